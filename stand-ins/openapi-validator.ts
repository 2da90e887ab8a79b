/**
 * Validates HTTP requests and responses against an OpenAPI 3.0 document with ajv, so a protocol
 * stand-in can prove that a client speaks the real API and that the stand-in itself answers as
 * the real API may.
 *
 * OpenAPI 3.0 schemas are a JSON Schema dialect: ajv runs with `strict: false` (for `example`,
 * `title` and friends) and ajv-formats (`int32`, `int64`, `date-time`, `uuid`, ...). Component
 * schemas are registered once under an absolute id and every `#/components/schemas/X` reference is
 * rewritten to point there, so inline schemas (request bodies, parameters) compile on their own.
 */
import { readFileSync } from 'node:fs';
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';

const COMPONENTS_ID = 'https://openapi.invalid/components.json';
const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

type JsonSchema = Record<string, unknown>;

interface ParameterObject {
  readonly name: string;
  readonly in: 'path' | 'query' | 'header' | 'cookie';
  readonly required?: boolean;
  readonly schema?: JsonSchema;
}

interface MediaTypeObject {
  readonly schema?: JsonSchema;
}

export interface OperationObject {
  readonly operationId?: string;
  readonly description?: string;
  readonly parameters?: readonly ParameterObject[];
  readonly requestBody?: { readonly required?: boolean; readonly content?: Record<string, MediaTypeObject> };
  readonly responses?: Record<string, { readonly content?: Record<string, MediaTypeObject> }>;
}

interface OpenApiDocument {
  readonly openapi: string;
  readonly info: { readonly version: string };
  readonly paths: Record<string, Partial<Record<HttpMethod, OperationObject>> & { parameters?: ParameterObject[] }>;
  readonly components?: { readonly schemas?: Record<string, JsonSchema> };
}

/** A request matched to an operation, with its parameters decoded and coerced to their schema types. */
export interface MatchedOperation {
  readonly method: HttpMethod;
  readonly pathTemplate: string;
  readonly operationId: string;
  readonly operation: OperationObject;
  readonly pathParams: Readonly<Record<string, unknown>>;
  readonly query: Readonly<Record<string, unknown>>;
}

export interface RequestToValidate {
  readonly method: string;
  readonly url: URL;
  readonly contentType?: string;
  /** Raw body text; empty or undefined when there is none. */
  readonly body?: string;
}

export interface RequestValidation {
  /** Absent when no path template matches (`notFound`) or the path has no such method (`methodNotAllowed`). */
  readonly match?: MatchedOperation;
  readonly routing?: 'notFound' | 'methodNotAllowed';
  readonly body?: unknown;
  /** One human-readable line per problem; empty when the request conforms. */
  readonly problems: readonly string[];
}

interface CompiledPath {
  readonly template: string;
  readonly regex: RegExp;
  readonly names: readonly string[];
  readonly literalSegments: number;
}

export class OpenApiValidator {
  readonly document: OpenApiDocument;
  private readonly ajv: Ajv;
  private readonly paths: readonly CompiledPath[];
  private readonly compiled = new Map<string, ValidateFunction>();

  constructor(document: OpenApiDocument) {
    if (!document.openapi.startsWith('3.0')) throw new Error(`expected an OpenAPI 3.0 document, got ${document.openapi}`);
    this.document = rewriteRefs(document) as OpenApiDocument;
    this.ajv = new Ajv({ strict: false, allErrors: true, validateFormats: true });
    addFormats(this.ajv);
    this.ajv.addSchema({ $id: COMPONENTS_ID, definitions: this.document.components?.schemas ?? {} });
    // Most specific template first: `/clusters/{id}/sql-users` must beat `/clusters/{id}/{x}`-like shapes.
    this.paths = Object.keys(this.document.paths)
      .map(compilePath)
      .sort((a, b) => b.literalSegments - a.literalSegments);
  }

  static fromFile(path: string): OpenApiValidator {
    return new OpenApiValidator(JSON.parse(readFileSync(path, 'utf8')) as OpenApiDocument);
  }

  /** The operation with this id, for tests that want to reach into the document. */
  operation(operationId: string): { method: HttpMethod; pathTemplate: string; operation: OperationObject } | undefined {
    for (const [pathTemplate, item] of Object.entries(this.document.paths)) {
      for (const method of HTTP_METHODS) {
        const operation = item[method];
        if (operation?.operationId === operationId) return { method, pathTemplate, operation };
      }
    }
    return undefined;
  }

  /** Matches the path, checks method, path and query parameters (declared, typed, required) and the JSON body. */
  validateRequest({ method: rawMethod, url, contentType, body }: RequestToValidate): RequestValidation {
    const method = rawMethod.toLowerCase() as HttpMethod;
    const problems: string[] = [];
    const candidates = this.paths.flatMap((path) => {
      const found = path.regex.exec(url.pathname);
      return found ? [{ path, found }] : [];
    });
    if (candidates.length === 0) return { routing: 'notFound', problems: [`no path in the spec matches ${url.pathname}`] };
    const hit = candidates.find(({ path }) => this.document.paths[path.template]?.[method] !== undefined);
    if (hit === undefined) {
      return { routing: 'methodNotAllowed', problems: [`${rawMethod.toUpperCase()} is not defined for ${candidates[0]?.path.template ?? url.pathname}`] };
    }
    const item = this.document.paths[hit.path.template];
    const operation = item?.[method];
    if (item === undefined || operation === undefined) throw new Error('unreachable: matched operation vanished');
    const parameters = mergeParameters(item.parameters ?? [], operation.parameters ?? []);
    const where = `${rawMethod.toUpperCase()} ${hit.path.template}`;

    const pathParams: Record<string, unknown> = {};
    hit.path.names.forEach((name, index) => {
      const raw = hit.found[index + 1] ?? '';
      let decoded: string;
      try {
        decoded = decodeURIComponent(raw);
      } catch {
        problems.push(`${where}: path parameter ${name} is not valid percent-encoding`);
        return;
      }
      const declared = parameters.find((p) => p.in === 'path' && p.name === name);
      if (declared === undefined) {
        problems.push(`${where}: path parameter ${name} is not declared`);
        return;
      }
      const value = coerce(decoded, declared.schema);
      pathParams[name] = value;
      problems.push(...this.check(declared.schema, value, `${where}: path parameter ${name}`));
    });

    const query: Record<string, unknown> = {};
    for (const name of new Set(url.searchParams.keys())) {
      const declared = parameters.find((p) => p.in === 'query' && p.name === name);
      if (declared === undefined) {
        problems.push(`${where}: query parameter ${name} is not declared by the spec`);
        continue;
      }
      const values = url.searchParams.getAll(name);
      const isArray = declared.schema?.type === 'array';
      if (!isArray && values.length > 1) problems.push(`${where}: query parameter ${name} is given ${values.length} times`);
      const value = isArray ? values.map((v) => coerce(v, declared.schema?.items as JsonSchema | undefined)) : coerce(values[0] ?? '', declared.schema);
      query[name] = value;
      problems.push(...this.check(declared.schema, value, `${where}: query parameter ${name}`));
    }
    for (const p of parameters) {
      if (p.in === 'query' && p.required === true && !url.searchParams.has(p.name)) {
        problems.push(`${where}: required query parameter ${p.name} is missing`);
      }
    }

    let parsedBody: unknown;
    const hasBody = body !== undefined && body !== '';
    const requestBody = operation.requestBody;
    if (requestBody === undefined) {
      if (hasBody) problems.push(`${where}: the operation takes no request body, but one was sent`);
    } else if (!hasBody) {
      if (requestBody.required === true) problems.push(`${where}: the request body is required`);
    } else if (!(contentType ?? '').toLowerCase().startsWith('application/json')) {
      problems.push(`${where}: the request body must be application/json, got ${contentType ?? 'no content-type'}`);
    } else {
      try {
        parsedBody = JSON.parse(body) as unknown;
        const schema = requestBody.content?.['application/json']?.schema;
        problems.push(...this.check(schema, parsedBody, `${where}: request body`));
      } catch {
        problems.push(`${where}: the request body is not valid JSON`);
      }
    }

    return {
      match: {
        method,
        pathTemplate: hit.path.template,
        operationId: operation.operationId ?? where,
        operation,
        pathParams,
        query,
      },
      ...(parsedBody !== undefined ? { body: parsedBody } : {}),
      problems,
    };
  }

  /**
   * Checks a response against the operation's schema for its status (or `default`). Error
   * responses (>= 400) must also be a valid `errorSchema` (the Cloud API's `Status`), because the
   * spec declares most error bodies as `{}`, which would accept anything.
   */
  validateResponse(match: Pick<MatchedOperation, 'method' | 'pathTemplate' | 'operation'>, status: number, body: unknown, errorSchema?: string): string[] {
    const where = `${match.method.toUpperCase()} ${match.pathTemplate} -> ${status}`;
    const responses = match.operation.responses ?? {};
    const declared = responses[String(status)] ?? responses.default;
    if (declared === undefined) return [`${where}: status ${status} is not declared and there is no default response`];
    const problems: string[] = [];
    const schema = declared.content?.['application/json']?.schema;
    if (schema !== undefined) problems.push(...this.check(schema, body, `${where}: response body`));
    if (status >= 400 && errorSchema !== undefined) {
      problems.push(...this.check({ $ref: `${COMPONENTS_ID}#/definitions/${errorSchema}` }, body, `${where}: error body (${errorSchema})`));
    }
    return problems;
  }

  /** Validates a value against a named component schema, e.g. `Cluster`. */
  validateComponent(name: string, value: unknown): string[] {
    return this.check({ $ref: `${COMPONENTS_ID}#/definitions/${name}` }, value, name);
  }

  private check(schema: JsonSchema | undefined, value: unknown, what: string): string[] {
    if (schema === undefined) return [];
    const key = JSON.stringify(schema);
    let validate = this.compiled.get(key);
    if (validate === undefined) {
      validate = this.ajv.compile(schema);
      this.compiled.set(key, validate);
    }
    if (validate(value)) return [];
    return (validate.errors ?? []).map((error) => `${what}: ${formatAjvError(error)}`);
  }
}

function formatAjvError(error: ErrorObject): string {
  const at = error.instancePath === '' ? '(root)' : error.instancePath;
  return `${at} ${error.message ?? 'is invalid'}${error.keyword === 'enum' ? ` (${JSON.stringify(error.params)})` : ''}`;
}

function compilePath(template: string): CompiledPath {
  const names: string[] = [];
  let literalSegments = 0;
  const pattern = template
    .split('/')
    .map((segment) => {
      const param = /^\{([^}]+)\}$/.exec(segment);
      if (param?.[1] !== undefined) {
        names.push(param[1]);
        return '([^/]+)';
      }
      if (segment !== '') literalSegments++;
      return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    })
    .join('/');
  return { template, regex: new RegExp(`^${pattern}$`), names, literalSegments };
}

/** Operation-level parameters override path-level ones with the same name and location. */
function mergeParameters(pathLevel: readonly ParameterObject[], operationLevel: readonly ParameterObject[]): ParameterObject[] {
  const merged = new Map<string, ParameterObject>();
  for (const p of [...pathLevel, ...operationLevel]) merged.set(`${p.in}:${p.name}`, p);
  return [...merged.values()];
}

/** Turns a path or query string into the type its schema declares; leaves it a string when it does not fit, so validation reports it. */
function coerce(text: string, schema: JsonSchema | undefined): unknown {
  switch (schema?.type) {
    case 'integer':
      return /^-?\d+$/.test(text) ? Number(text) : text;
    case 'number':
      return text.trim() !== '' && Number.isFinite(Number(text)) ? Number(text) : text;
    case 'boolean':
      return text === 'true' ? true : text === 'false' ? false : text;
    default:
      return text;
  }
}

function rewriteRefs(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(rewriteRefs);
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(value)) {
    out[key] =
      key === '$ref' && typeof child === 'string' && child.startsWith('#/components/schemas/')
        ? `${COMPONENTS_ID}#/definitions/${child.slice('#/components/schemas/'.length)}`
        : rewriteRefs(child);
  }
  return out;
}
