// Lua scripts, each defined once per client with ioredis defineCommand (EVALSHA, falling back to EVAL).
import type { RedisClient } from './redis.constants';

export interface RedisScript<Result> {
  readonly name: string;
  readonly numberOfKeys: number;
  readonly lua: string;
  /** Runs the script: keys are relative names (the client adds the prefix). */
  run(client: RedisClient, keys: string[], args: (string | number)[]): Promise<Result>;
  /**
   * Defines the command on the client now. Call it at start-up for scripts that run beside other commands:
   * an auto-pipeline opened in the same tick as a first definition lacks the command (ioredis 5.9,
   * redis/ioredis#1931), and the batch then fails with an uncaught TypeError.
   */
  define(client: RedisClient): void;
}

const REGISTRY: RedisScript<unknown>[] = [];

/** Defines every script declared so far on a new client, before it carries any traffic. */
export function defineAllScripts(client: RedisClient): void {
  for (const script of REGISTRY) script.define(client);
}

export function defineScript<Result>(name: string, numberOfKeys: number, lua: string): RedisScript<Result> {
  const command = `smsb_${name}`;
  const define = (client: RedisClient) => {
    const target = client as unknown as Record<string, unknown>;
    if (typeof target[command] !== 'function') client.defineCommand(command, { numberOfKeys, lua });
  };
  const script: RedisScript<Result> = {
    name,
    numberOfKeys,
    lua,
    define,
    run(client, keys, args) {
      if (keys.length !== numberOfKeys) throw new Error(`script ${name} takes ${numberOfKeys} keys`);
      define(client);
      const target = client as unknown as Record<string, (...a: unknown[]) => Promise<Result>>;
      return target[command](...keys, ...args);
    },
  };
  REGISTRY.push(script as RedisScript<unknown>);
  return script;
}
