// UsersService (port 50051): thin RPC handlers over the rules in ./domain.ts
// and the table in ./store.ts. Register and login are public and return the
// access token in the `authorization` response header; get and update need the
// user's own token.
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
import { InvalidArgument, NotFound, Unauthenticated } from "../../src/grpc/errors.ts";
import { type CallContext, requireSameUser } from "../../src/grpc/handlers.ts";
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

export const createUsersService: ServiceFactory = async ({ handlers, database, tokens }) => {
  const store = createUserStore(database());
  const passwords = await createPasswordHasher();

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
