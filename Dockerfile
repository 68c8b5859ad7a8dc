# The one Chronoverse image: every process (the five gRPC services, the
# operator, the HEARTBEAT run pods, `helm test`) runs `chronoverse <command>`.
# Node 24 runs the TypeScript sources directly (type stripping): no build step.
# See docs/chart.md.
FROM node:24-bookworm-slim

ENV NODE_ENV=production
WORKDIR /app

# Production dependencies only, exactly as locked.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --loglevel=error && npm cache clean --force

# The sources the processes load at run time (proto/ for reflection and health).
COPY bin ./bin
COPY src ./src
COPY gen ./gen
COPY proto ./proto
COPY services ./services
COPY operator ./operator
COPY crds ./crds

# HEARTBEAT pods run `chronoverse heartbeat …` by name.
RUN chmod 0755 bin/chronoverse && ln -s /app/bin/chronoverse /usr/local/bin/chronoverse

# Non-root (the chart's pods run as 65532 with a read-only root filesystem).
USER 65532:65532
ENTRYPOINT ["/app/bin/chronoverse"]
