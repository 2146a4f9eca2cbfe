// The parts of the `smpp` package (farhadi/node-smpp, no types of its own) this service and its tests use.
declare module 'smpp' {
  import { EventEmitter } from 'node:events';
  import type { Server as NetServer, Socket } from 'node:net';

  export interface PduFields {
    [field: string]: unknown;
  }

  export class PDU {
    constructor(command: string, options?: PduFields);
    command: string;
    command_id: number;
    command_status: number;
    sequence_number: number;
    [field: string]: unknown;
    isResponse(): boolean;
    response(options?: PduFields): PDU;
  }

  export class Session extends EventEmitter {
    socket: Socket;
    send(pdu: PDU, responseCallback?: (resp: PDU) => void, sendCallback?: (pdu: PDU) => void): boolean;
    close(callback?: () => void): void;
    destroy(callback?: () => void): void;
    pause(): void;
    resume(): void;
    [command: string]: unknown;
  }

  export interface Server extends NetServer {
    sessions: Session[];
  }

  export function connect(options: {
    host: string;
    port: number;
    tls?: boolean;
    [k: string]: unknown;
  }): Session;
  export function createServer(options: object, listener?: (session: Session) => void): Server;

  export function addTLV(tag: string, options: { id: number; type: unknown }): void;
  export const types: { tlv: Record<'int8' | 'int16' | 'int32' | 'cstring' | 'string' | 'buffer', unknown> };
  export const errors: Record<string, number>;
  export const consts: Record<string, Record<string, number>>;
}
