/**
 * Stands in for a package left out of the Lambda bundles (infra/bundling.ts, `LAMBDA_ONLY_ALIASES`).
 * Requiring it is harmless, as Bolt's index module does at load time; calling, constructing or
 * reading anything from it throws an error that names the package and says why it is missing,
 * instead of an `undefined is not a function` deep inside Bolt.
 */
export class UnbundledPackageError extends Error {
  constructor(readonly packageName: string, what: string) {
    super(
      `${what} is not available in this Lambda function: ${packageName} is replaced by a stub when bundling ` +
        '(infra/bundling.ts, LAMBDA_ONLY_ALIASES), because on Lambda only Bolt\'s AwsLambdaReceiver runs. ' +
        'Remove the alias if the function needs it.',
    );
    this.name = 'UnbundledPackageError';
  }
}

/** Property reads module loaders and `await` make on any module value: they must not throw. */
const INSPECTED = new Set<PropertyKey>(['__esModule', 'then', 'default', 'prototype', 'constructor', 'toJSON', 'inspect', 'length', 'name']);

/** A value that may be required and passed around, but throws when used. */
export function unbundled(packageName: string, what: string = packageName): unknown {
  // A function target, so the stub can stand for a module, a class or a function alike.
  const target = function unbundledPackage(): void {
    throw new UnbundledPackageError(packageName, what);
  };
  return new Proxy(target, {
    get(t, property, receiver) {
      if (typeof property === 'symbol' || INSPECTED.has(property)) return Reflect.get(t, property, receiver) as unknown;
      return unbundled(packageName, `${what}.${property}`);
    },
    apply() {
      throw new UnbundledPackageError(packageName, `${what}()`);
    },
    construct() {
      throw new UnbundledPackageError(packageName, `new ${what}()`);
    },
  });
}
