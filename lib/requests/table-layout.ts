/**
 * The state table's layout: keys, indexes, TTL attribute. A leaf module (type imports only), so
 * the CDK stack (infra/state-table.ts) builds the table from the same definition the store and
 * local mode use, without loading the store or the AWS SDK.
 */
import type { AttributeDefinition, GlobalSecondaryIndex, KeySchemaElement } from '@aws-sdk/client-dynamodb';

/** Global secondary index names and the TTL attribute, for the CDK stack and tests. */
export const GSI1 = 'gsi1';
export const GSI2 = 'gsi2';
export const TTL_ATTRIBUTE = 'ttl';

/**
 * The table as `CreateTable` takes it, plus its TTL setting (as CloudFormation's
 * `AWS::DynamoDB::Table` spells it; `CreateTable` itself cannot set TTL).
 */
export interface StateTableDefinition {
  readonly TableName: string;
  readonly KeySchema: KeySchemaElement[];
  readonly AttributeDefinitions: AttributeDefinition[];
  readonly GlobalSecondaryIndexes: GlobalSecondaryIndex[];
  readonly BillingMode: 'PAY_PER_REQUEST';
  readonly TimeToLiveSpecification: { readonly AttributeName: string; readonly Enabled: true };
}

/** The state table's key schema, indexes (projecting all attributes), billing mode and TTL attribute. */
export function tableDefinition(tableName: string): StateTableDefinition {
  const key = (hash: string, range: string): KeySchemaElement[] => [
    { AttributeName: hash, KeyType: 'HASH' },
    { AttributeName: range, KeyType: 'RANGE' },
  ];
  return {
    TableName: tableName,
    KeySchema: key('pk', 'sk'),
    AttributeDefinitions: ['pk', 'sk', 'gsi1pk', 'gsi1sk', 'gsi2pk', 'gsi2sk'].map((name) => ({ AttributeName: name, AttributeType: 'S' })),
    GlobalSecondaryIndexes: [
      { IndexName: GSI1, KeySchema: key('gsi1pk', 'gsi1sk'), Projection: { ProjectionType: 'ALL' } },
      { IndexName: GSI2, KeySchema: key('gsi2pk', 'gsi2sk'), Projection: { ProjectionType: 'ALL' } },
    ],
    BillingMode: 'PAY_PER_REQUEST',
    TimeToLiveSpecification: { AttributeName: TTL_ATTRIBUTE, Enabled: true },
  };
}
