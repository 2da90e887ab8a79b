/**
 * The one DynamoDB table: requests, approvals, the audit trail, managed entries and users, DM
 * receipts. Its keys, indexes and TTL attribute come from `tableDefinition()` in
 * lib/requests/table-layout.ts, the same definition local mode creates the emulator's table from,
 * so the deployed layout cannot drift from the code that reads it.
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { type StateTableDefinition, tableDefinition } from '../lib/requests/table-layout';

export interface StateTableProps {
  /** Default: `tableDefinition()`. The physical name is CloudFormation's (TABLE_NAME carries it). */
  readonly definition?: StateTableDefinition;
  /**
   * `retain` (default): requests and the audit trail outlive the stack, and deletion protection is
   * on. `destroy`: for a throwaway stack, `cdk destroy` deletes the table (no protection).
   */
  readonly removal?: 'retain' | 'destroy';
  /** Point-in-time recovery window in days, 1–35 (default 35). */
  readonly recoveryDays?: number;
}

export interface TableAccess {
  /** Item actions (GetItem, PutItem, ...) on the table. */
  readonly itemActions: readonly string[];
  /** Actions on the table and every index (Query). */
  readonly queryActions: readonly string[];
}

export class StateTable extends Construct {
  readonly table: dynamodb.Table;
  /** Index names, from the definition. */
  readonly indexNames: readonly string[];

  constructor(scope: Construct, id: string, props: StateTableProps = {}) {
    super(scope, id);
    // The name passed here is not used: CloudFormation names the table.
    const definition = props.definition ?? tableDefinition('crdb-chatops');
    const retain = (props.removal ?? 'retain') === 'retain';
    const recoveryDays = props.recoveryDays ?? 35;
    if (!Number.isInteger(recoveryDays) || recoveryDays < 1 || recoveryDays > 35) throw new Error(`recoveryDays: ${recoveryDays} is not a whole number of days from 1 to 35`);
    const attribute = (name: string): dynamodb.Attribute => {
      const type = definition.AttributeDefinitions.find((a) => a.AttributeName === name)?.AttributeType;
      if (type === undefined) throw new Error(`state table: key attribute ${name} has no attribute definition`);
      return { name, type: ATTRIBUTE_TYPES[type] ?? unsupported(`attribute type ${type}`) };
    };
    const keys = (schema: StateTableDefinition['KeySchema']) => {
      const hash = schema.find((k) => k.KeyType === 'HASH')?.AttributeName;
      const range = schema.find((k) => k.KeyType === 'RANGE')?.AttributeName;
      if (hash === undefined) return unsupported('a key schema without a HASH key');
      return { partitionKey: attribute(hash), ...(range !== undefined && { sortKey: attribute(range) }) };
    };

    this.table = new dynamodb.Table(this, 'Table', {
      ...keys(definition.KeySchema),
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true, recoveryPeriodInDays: recoveryDays },
      timeToLiveAttribute: definition.TimeToLiveSpecification.AttributeName,
      removalPolicy: retain ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
      // Deleting a retained table takes two steps (turn this off, then delete), never one mistake.
      deletionProtection: retain,
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      // The outbox: each new request reaches the job queue through the stream (lib/requests/outbox.ts).
      stream: dynamodb.StreamViewType.NEW_IMAGE,
    });
    for (const index of definition.GlobalSecondaryIndexes) {
      if (index.IndexName === undefined || index.KeySchema === undefined) unsupported('an index without a name or key schema');
      if (index.Projection?.ProjectionType !== 'ALL') unsupported(`index ${index.IndexName} projecting ${index.Projection?.ProjectionType ?? 'nothing'}`);
      this.table.addGlobalSecondaryIndex({ indexName: index.IndexName, ...keys(index.KeySchema), projectionType: dynamodb.ProjectionType.ALL });
    }
    this.indexNames = definition.GlobalSecondaryIndexes.map((i) => i.IndexName ?? '');
  }

  /** Grants exactly these actions: item actions on the table, queries on the table and its indexes. */
  grant(grantee: iam.IGrantable, { itemActions, queryActions }: TableAccess): void {
    const principal = grantee.grantPrincipal;
    if (itemActions.length > 0) {
      principal.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'StateTableItems', actions: [...itemActions], resources: [this.table.tableArn] }));
    }
    if (queryActions.length > 0) {
      const indexes = this.indexNames.map((name) => `${this.table.tableArn}/index/${name}`);
      principal.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'StateTableQueries', actions: [...queryActions], resources: [this.table.tableArn, ...indexes] }));
    }
  }
}

const ATTRIBUTE_TYPES: Readonly<Record<string, dynamodb.AttributeType>> = {
  S: dynamodb.AttributeType.STRING,
  N: dynamodb.AttributeType.NUMBER,
  B: dynamodb.AttributeType.BINARY,
};

function unsupported(what: string): never {
  throw new Error(`state table: tableDefinition() has ${what}, which the stack does not translate`);
}
