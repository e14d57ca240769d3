/**
 * What resources and prompts share: a definition is a frozen value that carries, under
 * a registry symbol, how it registers itself on an SDK server; a map of them is checked
 * once, when the server is created, and registered on every server instance.
 *
 * @module
 */
import type { McpServer } from "@modelcontextprotocol/server";

/** How a definition registers itself on an SDK server, under its name. */
export type Register = (server: McpServer, name: string) => void;

/** One kind of definition (resources, prompts): how its values are made, checked, registered. */
export interface DefinitionKind<T extends object> {
  /** Freezes a definition with how it registers. */
  made(value: T, register: Register): T;
  /**
   * Checks a map of definitions: undefined stays undefined; anything else must be an
   * object whose names are not empty and whose values the kind's factory made. Throws
   * a TypeError that names the option and the entry.
   */
  check(map: unknown): Record<string, T> | undefined;
  /** Registers every definition of a checked map on an SDK server. */
  registerAll(server: McpServer, map: Record<string, T>): void;
}

/**
 * The kind of definition that `noun()` makes (`resource()`, `prompt()`), marked
 * `kind: "personal-mcp-<noun>"`. Its registry symbol is global (`Symbol.for`), so
 * definitions made by another copy of this package still register.
 */
export function definitionKind<T extends object>(noun: "resource" | "prompt"): DefinitionKind<T> {
  const symbol = Symbol.for(`personal-mcp.${noun}`);
  const registerOf = (value: unknown) => (value as { [key: symbol]: Register | undefined })[symbol];
  return {
    made(value, register) {
      Object.defineProperty(value, symbol, { value: register });
      return Object.freeze(value);
    },
    check(map) {
      if (map === undefined) return undefined;
      if (!map || typeof map !== "object" || Array.isArray(map)) {
        throw new TypeError(`"${noun}s" must be an object mapping names to ${noun}() definitions`);
      }
      for (const [name, value] of Object.entries(map)) {
        if (name === "") throw new TypeError(`${noun} names must not be empty`);
        const isMade = (value as { kind?: unknown } | null)?.kind === `personal-mcp-${noun}` &&
          registerOf(value) !== undefined;
        if (!isMade) throw new TypeError(`${noun}s.${name} must be made with ${noun}()`);
      }
      return map as Record<string, T>;
    },
    registerAll(server, map) {
      for (const [name, value] of Object.entries(map)) registerOf(value)!(server, name);
    },
  };
}
