/** Connection facts of the servers started in global setup, for test files. */
import { readFileSync } from 'node:fs';

function required(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') throw new Error(`${name} is not set: run tests through jest (global setup starts the servers).`);
  return value;
}

export interface TestPostgres {
  host: string;
  port: number;
  adminUser: string;
  adminPassword: string;
  database: string;
  caFile: string;
  caPem: string;
  hbaFile: string;
}

export function testPostgres(): TestPostgres {
  const caFile = required('CRDB_TEST_PG_CA_FILE');
  return {
    host: required('CRDB_TEST_PG_HOST'),
    port: Number(required('CRDB_TEST_PG_PORT')),
    adminUser: required('CRDB_TEST_PG_USER'),
    adminPassword: required('CRDB_TEST_PG_PASSWORD'),
    database: required('CRDB_TEST_PG_DATABASE'),
    caFile,
    caPem: readFileSync(caFile, 'utf8'),
    hbaFile: required('CRDB_TEST_PG_HBA_FILE'),
  };
}

export interface TestDynamo {
  /** The dynalite front server (with transactions) started in global setup. */
  endpoint: string;
}

export function testDynamo(): TestDynamo {
  return { endpoint: required('CRDB_TEST_DYNAMODB_ENDPOINT') };
}
