#!/usr/bin/env node
/** The `ndpack` command line. */
export {};
