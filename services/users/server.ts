// UsersService (port 50051): thin RPC handlers over the rules in ./domain.ts
// and the table in ./store.ts. Register and login are public and return the
// access token in the `authorization` response header; get and update need the
// user's own token. Both public calls are rate-limited per email and per
// client address before any password hashing (docs/api.md, "Quotas and limits").
import { v7 as uuidv7 } from "uuid";
import {
  type GetUserRequest,
  type GetUserResponse,
  type LoginUserRequest,
  type LoginUserResponse,
  type RegisterUserRequest,
  type RegisterUserResponse,
  type UpdateUserRequest,
  type UpdateUserResponse,
  UsersServiceService,
} from "../../gen/users/users.ts";
import { InvalidArgument, NotFound, ResourceExhausted, Unauthenticated } from "../../src/grpc/errors.ts";
import { type CallContext, requireSameUser } from "../../src/grpc/handlers.ts";
import { formatDuration, peerAddress, TokenBucketLimiter } from "../../src/grpc/limits.ts";
import type { ServiceFactory } from "../../src/grpc/service.ts";
import {
  loginPasswordCouldMatch,
  normalizeEmail,
  parseNotificationPreference,
  validateNewPassword,
  validateUserId,
} from "./domain.ts";
import { createPasswordHasher } from "./passwords.ts";
import { createUserStore } from "./store.ts";

export const USERS_SERVICE_NAME = "users.UsersService";

/** The one answer to every failed login, whatever the reason. */
const LOGIN_FAILED = "invalid email or password";

export const createUsersService: ServiceFactory = async ({ handlers, database, tokens, config }) => {
  const store = createUserStore(database());
  const passwords = await createPasswordHasher();
  const { authAttemptsPerEmail, authAttemptsPerAddress, authRateWindowMs } = config.limits;
  const perEmail = new TokenBucketLimiter({ capacity: authAttemptsPerEmail, windowMs: authRateWindowMs });
  const perAddress = new TokenBucketLimiter({ capacity: authAttemptsPerAddress, windowMs: authRateWindowMs });

  /** Counts one attempt of `operation` for this email and this client address, or refuses it. */
  const rateLimit = (operation: "login" | "registration", email: string, context: CallContext): void => {
    const checks = [
      {
        limiter: perAddress,
        key: `${operation}:${peerAddress(context.peer)}`,
        what: "from this address",
        variable: "CHRONOVERSE_AUTH_ATTEMPTS_PER_ADDRESS",
      },
      {
        limiter: perEmail,
        key: `${operation}:${email}`,
        what: "for this email",
        variable: "CHRONOVERSE_AUTH_ATTEMPTS_PER_EMAIL",
      },
    ];
    for (const { limiter, key, what, variable } of checks) {
      const taken = limiter.take(key);
      if (!taken.ok) {
        context.logger.warn({ limit: variable }, `${operation} rate limit reached`);
        throw new ResourceExhausted(
          `too many ${operation} attempts ${what}: at most ${limiter.capacity} per ${formatDuration(limiter.windowMs)} (${variable}); retry in ${formatDuration(taken.retryAfterMs)}`,
          taken.retryAfterMs,
        );
      }
    }
  };

  const sendToken = async (context: CallContext, userId: string): Promise<void> => {
    context.setHeader("authorization", `Bearer ${await tokens.issueUserToken(userId)}`);
  };

  return {
    name: USERS_SERVICE_NAME,
    definition: UsersServiceService,
    implementation: {
      registerUser: handlers.unary<RegisterUserRequest, RegisterUserResponse>(
        "public",
        async (request, context) => {
          const email = normalizeEmail(request.email);
          const password = validateNewPassword(request.password);
          rateLimit("registration", email, context);
          const id = uuidv7();
          await store.insert({ id, email, passwordHash: await passwords.hash(password) });
          context.logger.info({ user_id: id }, "user registered");
          await sendToken(context, id);
          return { user_id: id };
        },
      ),

      loginUser: handlers.unary<LoginUserRequest, LoginUserResponse>("public", async (request, context) => {
        const email = normalizeEmail(request.email);
        if (request.password === "") throw new InvalidArgument("password", "is required");
        rateLimit("login", email, context);
        const user = await store.findByEmail(email);
        // Always run one hash verification, so unknown emails cost the same time.
        const ok = await passwords.verifyOrBurn(
          loginPasswordCouldMatch(request.password) ? user?.password_hash : undefined,
          request.password,
        );
        if (!ok || user === undefined) throw new Unauthenticated(LOGIN_FAILED);
        await sendToken(context, user.id);
        return { user_id: user.id };
      }),

      getUser: handlers.unary<GetUserRequest, GetUserResponse>("user", async (request, context) => {
        const id = validateUserId(request.id);
        requireSameUser(context, id, "id");
        const user = await store.findById(id);
        if (user === undefined) throw new NotFound("user not found");
        return {
          email: user.email,
          notification_preference: user.notification_preference,
          created_at: user.created_at.toISOString(),
          updated_at: user.updated_at.toISOString(),
        };
      }),

      updateUser: handlers.unary<UpdateUserRequest, UpdateUserResponse>("user", async (request, context) => {
        const id = validateUserId(request.id);
        requireSameUser(context, id, "id");
        const preference = parseNotificationPreference(request.notification_preference);
        if (!(await store.updateNotificationPreference(id, preference))) throw new NotFound("user not found");
        return {};
      }),
    },
  };
};
