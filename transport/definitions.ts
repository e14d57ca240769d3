/**
 * The rule every map of definitions (resources, prompts) is checked by once, when the
 * server is created: an object of non-empty names, each value made by its factory.
 *
 * @module
 */

/**
 * Checks a map of `noun` definitions: undefined stays undefined; anything else must be
 * an object whose names are not empty and whose values `isMade` recognises (made by
 * `noun()`). Throws a TypeError that names the option and the entry.
 */
export function checkDefinitions<T>(
  map: unknown,
  noun: "resource" | "prompt",
  isMade: (value: unknown) => boolean,
): Record<string, T> | undefined {
  if (map === undefined) return undefined;
  if (!map || typeof map !== "object" || Array.isArray(map)) {
    throw new TypeError(`"${noun}s" must be an object mapping names to ${noun}() definitions`);
  }
  for (const [name, value] of Object.entries(map)) {
    if (name === "") throw new TypeError(`${noun} names must not be empty`);
    if (!isMade(value)) throw new TypeError(`${noun}s.${name} must be made with ${noun}()`);
  }
  return map as Record<string, T>;
}
