/**
 * `translatePgError`: which failures are transient (`retryable`: the same call may succeed once the
 * server is back) and which are permanent. The integration test `test/integration/pg-errors.test.ts`
 * produces the connection-level ones with real sockets and a real `pg` pool.
 */
import {
  AlreadyExistsError,
  BackendError,
  ConflictError,
  NotFoundError,
  PermissionDeniedError,
  TimeoutError,
  UnauthenticatedError,
  UnavailableError,
} from '../../lib/cluster-admin/errors';
import { translatePgError } from '../../lib/cluster-admin/sql/pg-errors';

/** A pg DatabaseError-like object: an Error with the server's SQLSTATE. */
function sqlError(code: string, message = 'server said no'): Error {
  return Object.assign(new Error(message), { code, severity: 'FATAL' });
}

function socketError(code: string): Error {
  return Object.assign(new Error(`connect ${code} 127.0.0.1:26257`), { code, errno: -1, syscall: 'connect' });
}

const translate = (error: unknown) => translatePgError(error, 'prod', 'create the user');

describe('translatePgError: transient failures are retryable', () => {
  it.each(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN'])('socket error %s', (code) => {
    const error = translate(socketError(code));
    expect(error).toBeInstanceOf(UnavailableError);
    expect(error.retryable).toBe(true);
    expect(error.message).toBe('Could not reach the SQL endpoint of prod to create the user; try again shortly.');
  });

  it.each([
    'Connection terminated unexpectedly',
    'Connection terminated due to connection timeout',
    'timeout exceeded when trying to connect',
    'Client has encountered a connection error and is not queryable',
  ])('pg connection failure without a code: %s', (message) => {
    const error = translate(new Error(message));
    expect(error).toBeInstanceOf(UnavailableError);
    expect(error.retryable).toBe(true);
  });

  it('an AggregateError of every address refused (connecting to a name with IPv4 and IPv6)', () => {
    const error = translate(Object.assign(new AggregateError([socketError('ECONNREFUSED'), socketError('ECONNREFUSED')], ''), { code: 'ECONNREFUSED' }));
    expect(error).toBeInstanceOf(UnavailableError);
    expect(error.retryable).toBe(true);
  });

  it.each(['08000', '08001', '08003', '08004', '08006', '08007'])('SQLSTATE %s (class 08, connection exception)', (code) => {
    const error = translate(sqlError(code));
    expect(error).toBeInstanceOf(UnavailableError);
    expect(error.retryable).toBe(true);
  });

  it.each([
    ['57P01', 'terminating connection due to administrator command'],
    ['57P02', 'terminating connection because of crash of another server process'],
    ['57P03', 'the database system is shutting down'],
    ['57P03', 'the database system is starting up'],
    ['57P05', 'terminating connection due to idle-session timeout'],
    ['53300', 'sorry, too many clients already'],
  ])('SQLSTATE %s (%s)', (code, message) => {
    const error = translate(sqlError(code, message));
    expect(error).toBeInstanceOf(UnavailableError);
    expect(error.retryable).toBe(true);
    expect(error.message).toBe('Could not create the user on prod: it is restarting, shutting down or at its connection limit; try again shortly.');
    // The server's own words (which may quote names) stay in the cause.
    expect(error.message).not.toContain(message);
  });

  it.each(['40001', '40P01'])('SQLSTATE %s (serialization failure, deadlock) is a retryable conflict', (code) => {
    const error = translate(sqlError(code));
    expect(error).toBeInstanceOf(ConflictError);
    expect(error.retryable).toBe(true);
  });

  it('SQLSTATE 57014 (statement timeout) is a retryable timeout', () => {
    const error = translate(sqlError('57014'));
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error.retryable).toBe(true);
  });

  it('XX000 "tuple concurrently updated" is a retryable conflict', () => {
    const error = translate(sqlError('XX000', 'tuple concurrently updated'));
    expect(error).toBeInstanceOf(ConflictError);
    expect(error.retryable).toBe(true);
  });
});

describe('translatePgError: permanent failures are not retryable', () => {
  it.each([
    ['28P01', UnauthenticatedError],
    ['28000', UnauthenticatedError],
    ['42501', PermissionDeniedError],
    ['42710', AlreadyExistsError],
    ['23505', AlreadyExistsError],
    ['42704', NotFoundError],
    ['2BP01', ConflictError],
    ['08P01', BackendError],
    ['57P04', BackendError],
    ['42601', BackendError],
    ['XX000', BackendError],
  ] as const)('SQLSTATE %s', (code, kind) => {
    const error = translate(sqlError(code));
    expect(error).toBeInstanceOf(kind);
    expect(error.retryable).toBe(false);
  });

  it.each(['The server does not support SSL connections', 'self-signed certificate in certificate chain', "Hostname/IP does not match certificate's altnames"])(
    'a TLS or protocol failure: %s',
    (message) => {
      const error = translate(new Error(message));
      expect(error).toBeInstanceOf(BackendError);
      expect(error.retryable).toBe(false);
    },
  );

  it('something that is not an error at all', () => {
    expect(translate(undefined).retryable).toBe(false);
    expect(translate('boom').retryable).toBe(false);
  });

  it('a cluster-admin error passes through unchanged', () => {
    const original = new UnavailableError('already translated');
    expect(translate(original)).toBe(original);
  });
});
