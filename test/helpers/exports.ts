/**
 * The exports of a module, read with the TypeScript compiler from the source (never from a possibly
 * stale `dist/`), resolved through re-exports to their declarations: for the public-API tests.
 */
import ts from "typescript";

/** One exported name. */
export interface ExportedName {
  readonly name: string;
  /** "value" for anything that exists at run time (functions, classes, constants), "type" otherwise. */
  readonly kind: "value" | "type";
  /** True when the declaration the name resolves to has a non-empty `/** ... *\/` comment. */
  readonly documented: boolean;
}

const EXPORTS_OPTIONS: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.ESNext,
  moduleResolution: ts.ModuleResolutionKind.Bundler,
  strict: true,
  noEmit: true,
  skipLibCheck: true,
  types: [],
};

/**
 * A compiler host that parses (and so binds) each file once for every program made with it, as
 * TypeScript's language service shares files between programs: give one host only to programs
 * whose options differ in nothing that changes how a file is parsed or bound (the language service's
 * list is `target`, `module`, `moduleResolution`, `moduleDetection`, `jsx`, `jsxImportSource`,
 * `importHelpers`, `alwaysStrict` and the unreachable and unused-label checks; `lib` and `types` do
 * not). A file is kept per module format it is read as, and parsed again when its text changed.
 */
export function sharedSourceFilesHost(options: ts.CompilerOptions): ts.CompilerHost {
  const host = ts.createCompilerHost(options);
  const parse = host.getSourceFile.bind(host);
  const parsed = new Map<string, { text: string; file: ts.SourceFile | undefined }>();
  host.getSourceFile = (fileName, languageVersionOrOptions, onError) => {
    const text = host.readFile(fileName);
    if (text === undefined) return parse(fileName, languageVersionOrOptions, onError);
    const key = `${typeof languageVersionOrOptions === "object" ? languageVersionOrOptions.impliedNodeFormat : ""}:${fileName}`;
    const known = parsed.get(key);
    if (known?.text === text) return known.file;
    const file = parse(fileName, languageVersionOrOptions, onError);
    parsed.set(key, { text, file });
    return file;
  };
  return host;
}

const exportsHost = sharedSourceFilesHost(EXPORTS_OPTIONS);

/** The exports of the module at `path`, resolved through re-exports to their declarations. */
export function exportsOf(path: string): ExportedName[] {
  const program = ts.createProgram([path], EXPORTS_OPTIONS, exportsHost);
  return exportedDeclarations(program, path)
    .map(({ symbol, target, declarations }) => {
      const isValue = (target.flags & ts.SymbolFlags.Value) !== 0 && !declarations.every((d) => ts.isTypeAliasDeclaration(d) || ts.isInterfaceDeclaration(d));
      const documented = declarations.some((declaration) => hasDocComment(declaration));
      return { name: symbol.getName(), kind: isValue ? ("value" as const) : ("type" as const), documented };
    })
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Each export of the module at `path` in `program`, and the symbol and declarations it resolves to through re-exports. */
function exportedDeclarations(program: ts.Program, path: string): { symbol: ts.Symbol; target: ts.Symbol; declarations: ts.Declaration[] }[] {
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(path);
  if (source === undefined) throw new Error(`cannot read ${path}`);
  const moduleSymbol = checker.getSymbolAtLocation(source);
  if (moduleSymbol === undefined) throw new Error(`${path} is not a module`);
  return checker.getExportsOfModule(moduleSymbol).map((symbol) => {
    const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
    return { symbol, target, declarations: target.declarations ?? [] };
  });
}

/** A non-empty `/** ... *\/` block directly before the declaration (for a variable: its statement). */
function hasDocComment(declaration: ts.Declaration): boolean {
  const node = ts.isVariableDeclaration(declaration) ? declaration.parent.parent : declaration;
  const text = node.getSourceFile().getFullText();
  const ranges = ts.getLeadingCommentRanges(text, node.getFullStart()) ?? [];
  const last = ranges[ranges.length - 1];
  if (last === undefined || last.kind !== ts.SyntaxKind.MultiLineCommentTrivia) return false;
  const comment = text.slice(last.pos, last.end);
  return comment.startsWith("/**") && comment.slice(3, -2).replace(/[\s*]/g, "").length > 0;
}

/**
 * The public names in the declarations `files` (built .d.ts) without TSDoc: each export (as
 * {@link exportsOf} reads it), and each member of an exported class, interface or object type
 * (`Name.member`; `Name.constructor` for a constructor), private ones aside.
 */
export function undocumentedDeclarations(files: readonly string[]): string[] {
  const program = ts.createProgram([...files], { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, strict: true, noEmit: true, skipLibCheck: true, types: [] });
  const missing = new Set<string>();
  for (const file of files) {
    for (const { symbol, declarations } of exportedDeclarations(program, file)) {
      if (!declarations.some(hasDocComment)) missing.add(symbol.getName());
      for (const declaration of declarations) {
        const members = ts.isClassDeclaration(declaration) || ts.isInterfaceDeclaration(declaration) ? declaration.members : ts.isTypeAliasDeclaration(declaration) && ts.isTypeLiteralNode(declaration.type) ? declaration.type.members : [];
        for (const member of members) {
          const name = member.name;
          if ((name !== undefined && ts.isPrivateIdentifier(name)) || ts.getCombinedModifierFlags(member as ts.Declaration) & ts.ModifierFlags.Private) continue;
          if (!hasDocComment(member)) missing.add(`${symbol.getName()}.${name === undefined ? (ts.isConstructorDeclaration(member) ? "constructor" : ts.SyntaxKind[member.kind]) : name.getText()}`);
        }
      }
    }
  }
  return [...missing].sort();
}
