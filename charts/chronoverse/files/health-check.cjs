// `helm test`: asks every Chronoverse service for its gRPC health
// (grpc.health.v1.Health/Check, service ""), retrying for up to
// CHECK_TIMEOUT_SECONDS (default 60).
// Runs with the chronoverse image's Node from /app, so its node_modules
// (@grpc/grpc-js, @grpc/proto-loader, grpc-health-check) resolve.
const fs = require("node:fs");
const grpc = require("@grpc/grpc-js");
const loader = require("@grpc/proto-loader");
const { protoPath } = require("grpc-health-check");

const targets = JSON.parse(process.env.CHECK_TARGETS || "{}");
const tlsDir = process.env.CHECK_TLS_DIR;
const read = (file) => (fs.existsSync(`${tlsDir}/${file}`) ? fs.readFileSync(`${tlsDir}/${file}`) : null);
const credentials = tlsDir
  ? grpc.credentials.createSsl(read("ca.crt"), read("tls.key"), read("tls.crt"))
  : grpc.credentials.createInsecure();
const { grpc: pkg } = grpc.loadPackageDefinition(loader.loadSync(protoPath, { keepCase: true, enums: String }));

function check(address) {
  return new Promise((resolve) => {
    const client = new pkg.health.v1.Health(address, credentials);
    client.check({ service: "" }, { deadline: Date.now() + 5000 }, (error, reply) => {
      client.close();
      resolve(error ? `error: ${error.message}` : reply.status);
    });
  });
}

async function main() {
  const until = Date.now() + Number(process.env.CHECK_TIMEOUT_SECONDS || 60) * 1000;
  let failed = [];
  for (;;) {
    failed = [];
    for (const [name, address] of Object.entries(targets)) {
      const status = await check(address);
      console.log(`${name} (${address}): ${status}`);
      if (status !== "SERVING") failed.push(name);
    }
    if (failed.length === 0 || Date.now() > until) break;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  if (Object.keys(targets).length === 0) failed.push("no targets");
  console.log(failed.length === 0 ? "all services SERVING" : `not serving: ${failed.join(", ")}`);
  process.exit(failed.length === 0 ? 0 : 1);
}
main();
