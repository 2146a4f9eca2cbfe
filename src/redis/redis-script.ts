// Lua scripts, each defined once per client with ioredis defineCommand (EVALSHA, falling back to EVAL).
import type { RedisClient } from './redis.constants';

export interface RedisScript<Result> {
  readonly name: string;
  readonly numberOfKeys: number;
  readonly lua: string;
  /** Runs the script: keys are relative names (the client adds the prefix). */
  run(client: RedisClient, keys: string[], args: (string | number)[]): Promise<Result>;
  /**
   * Defines the command on the client now. Scripts are defined on a client before it carries traffic
   * (defineAllScripts): an auto-pipeline opened in the same tick as a first definition lacks the command, and
   * in ioredis 5.9 the batch then ends the process with an uncaught TypeError (redis/ioredis#1931).
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
      const target = client as unknown as Record<string, (...a: unknown[]) => Promise<Result>>;
      if (typeof target[command] === 'function') return target[command](...keys, ...args);
      // Declared after the client was made: an auto-pipeline opened earlier in this tick was built without
      // the command (ioredis copies a client's commands into a pipeline when it makes one), so the call waits
      // until that pipeline has gone out (it is sent from a setImmediate queued before this one).
      define(client);
      return new Promise<void>((resolve) => setImmediate(resolve)).then(() =>
        target[command](...keys, ...args),
      );
    },
  };
  REGISTRY.push(script as RedisScript<unknown>);
  return script;
}
