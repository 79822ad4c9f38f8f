/**
 * The arrays the Python parity tests have numpy write (as Python source, for a script's text): each
 * dtype ndpack reads, big-endian, Fortran order, 0-d, empty. Defines `arrays`, a dict by name.
 */
export const NUMPY_ARRAYS_PY = `arrays = {
    "f4": np.arange(12, dtype="<f4").reshape(3, 4), "i8be": np.arange(5, dtype=">i8"),
    "f8F": np.asfortranarray(np.arange(6, dtype="f8").reshape(2, 3)), "b1": np.array([True, False, True]),
    "c8": np.array([1 + 2j, -3j], "c8"), "u2empty": np.zeros((0, 4), "u2"), "i2scalar": np.array(-7, "i2"),
    "f2": np.arange(5, dtype="f2"), "u1": np.arange(9, dtype="u1").reshape(3, 3), "c16be": np.array([2 - 1j], ">c16"),
}`;
