/**
 * Errors local mode reports to the person who typed `npm start`: one line, saying what is wrong
 * and what to do about it. `main.ts` prints the message as is; anything else is a bug and gets
 * its stack in the log file.
 */

export type LocalModeErrorCode = 'bad-flag' | 'port-in-use' | 'data-dir' | 'slack-credentials' | 'socket-mode';

export class LocalModeError extends Error {
  constructor(
    readonly code: LocalModeErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'LocalModeError';
  }
}
