// Password hashing with Argon2id (memory-hard), OWASP's baseline parameters.
// `verifyOrBurn` spends the same work when there is no user, so a login for an
// unknown email takes about as long as one with a wrong password.
import { type Algorithm, hash, verify } from "@node-rs/argon2";

// Algorithm is an ambient const enum (not importable as a value under type stripping).
const ARGON2ID = 2 as Algorithm.Argon2id;

const OPTIONS = {
  algorithm: ARGON2ID,
  memoryCost: 19_456, // KiB
  timeCost: 2,
  parallelism: 1,
} as const;

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  /** Verifies against `storedHash`, or against a dummy hash when it is undefined (always false then). */
  verifyOrBurn(storedHash: string | undefined, password: string): Promise<boolean>;
}

export async function createPasswordHasher(): Promise<PasswordHasher> {
  const dummyHash = await hash("chronoverse-dummy-password", OPTIONS);
  return {
    hash: (password) => hash(password, OPTIONS),
    async verifyOrBurn(storedHash, password) {
      try {
        const matches = await verify(storedHash ?? dummyHash, password);
        return storedHash !== undefined && matches;
      } catch {
        return false;
      }
    },
  };
}
