// The users service the way a person meets it from a shell: grpcurl with no
// proto files (server reflection), JSON in, JSON out, the token taken from the
// response header and sent back with -H.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createUsersService } from "../../../services/users/server.ts";
import { grpcurlPath, startTestService, type TestService } from "../../support/grpc.ts";

const run = promisify(execFile);

describe("UsersService from a shell with grpcurl", () => {
  let svc: TestService;
  let grpcurl: string;

  beforeAll(async () => {
    grpcurl = await grpcurlPath();
    svc = await startTestService(createUsersService);
  });
  afterAll(async () => {
    await svc?.stop();
  });

  const shell = async (script: string): Promise<string> => {
    const { stdout } = await run("bash", ["-euo", "pipefail", "-c", script], {
      env: {
        ...process.env,
        PATH: `${grpcurl.replace(/\/grpcurl$/, "")}:${process.env.PATH}`,
        ADDR: svc.address,
      },
    });
    return stdout;
  };

  it("lists the services through reflection", async () => {
    const out = await shell("grpcurl -plaintext $ADDR list");
    expect(out.trim().split("\n").sort()).toEqual(["grpc.health.v1.Health", "users.UsersService"]);
    const described = await shell("grpcurl -plaintext $ADDR describe users.UsersService");
    expect(described).toMatch(
      /rpc RegisterUser \( \.users\.RegisterUserRequest \) returns \( \.users\.RegisterUserResponse \);/,
    );
  });

  it("reports SERVING on the gRPC health protocol", async () => {
    const out = await shell(
      `grpcurl -plaintext -d '{"service": "users.UsersService"}' $ADDR grpc.health.v1.Health/Check`,
    );
    expect(JSON.parse(out)).toEqual({ status: "SERVING" });
  });

  it("registers, logs in with the header token, and reads the profile", async () => {
    const out = await shell(
      `
      grpcurl -plaintext -d '{"email": "Shell.User@Example.com", "password": "correct horse battery"}' \\
        $ADDR users.UsersService/RegisterUser > register.json
      USER_ID=$(sed -n 's/.*"user_id": "\\(.*\\)".*/\\1/p' register.json)
      TOKEN=$(grpcurl -plaintext -v -d '{"email": "shell.user@example.com", "password": "correct horse battery"}' \\
        $ADDR users.UsersService/LoginUser | sed -n 's/^authorization: Bearer //p')
      grpcurl -plaintext -H "authorization: Bearer $TOKEN" -d "{\\"id\\": \\"$USER_ID\\"}" \\
        $ADDR users.UsersService/GetUser
      rm register.json
    `.replaceAll("register.json", `/tmp/cv-grpcurl-${process.pid}.json`),
    );
    expect(JSON.parse(out)).toMatchObject({
      email: "shell.user@example.com",
      notification_preference: "ALERTS",
    });
  });

  it("shows a clear error naming the field", async () => {
    const failure = await shell(
      `grpcurl -plaintext -d '{"email": "shell@example.com", "password": "short"}' $ADDR users.UsersService/RegisterUser 2>&1 || true`,
    );
    expect(failure).toMatch(/Code: InvalidArgument/);
    expect(failure).toMatch(/Message: password: must be 8 to 72 characters/);
  });
});
