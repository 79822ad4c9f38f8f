/**
 * `ndpack/interop`: conversions between ndpack and .npy, .npz and .safetensors bytes.
 *
 * @packageDocumentation
 */
export {};
