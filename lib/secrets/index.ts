/** lib/secrets: the SecretStore port, its AWS and file adapters, passwords, and the error family. */
export * from './types';
export * from './errors';
export { generatePassword, MIN_PASSWORD_LENGTH, MAX_PASSWORD_LENGTH } from './password';
export { AwsSecretStore, type AwsSecretStoreOptions, createSecretsManagerClient, type SecretsManagerClientOptions } from './aws-secrets-manager';
export { FileSecretStore, type FileSecretStoreOptions } from './file-store';
