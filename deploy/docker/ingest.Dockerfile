# syntax=docker/dockerfile:1
# The fanout ingest image. Build from the repository root:
#   docker build -f deploy/docker/ingest.Dockerfile -t fanout/ingest:0.1.0 .
# Stages: build (TypeScript) → deps (production dependencies) → runtime (non-root, read-only
# root file system friendly).
ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
# npm ci: exactly the lock file's versions (the lock lists every platform's optional builds).
COPY package.json package-lock.json tsconfig.json ./
COPY services/tsconfig.base.json services/
COPY services/shared/package.json services/shared/
COPY services/ingest/package.json services/ingest/
COPY services/edge/package.json services/edge/
COPY services/client/package.json services/client/
RUN npm ci --no-audit --no-fund --ignore-scripts --workspace services/shared \
      --workspace services/ingest --include-workspace-root
COPY services/shared services/shared
COPY services/ingest services/ingest
RUN node_modules/.bin/tsc -b services/ingest \
 && find services -name '*.test.js' -o -name '*.test.js.map' -o -name '*.test.d.ts*' | xargs rm -f

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
COPY services/shared/package.json services/shared/
COPY services/ingest/package.json services/ingest/
COPY services/edge/package.json services/edge/
COPY services/client/package.json services/client/
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts \
      --workspace services/shared --workspace services/ingest \
 && npm cache clean --force \
 && mkdir -p services/shared/node_modules services/ingest/node_modules

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app /app
COPY --from=build /src/services/shared/dist services/shared/dist
COPY --from=build /src/services/shared/generated services/shared/generated
COPY --from=build /src/services/ingest/dist services/ingest/dist
# The service starts as far as reading its configuration: every module loads.
RUN node --input-type=module -e "await import('/app/services/shared/dist/index.js'); await import('/app/services/ingest/dist/index.js'); console.log('ingest modules load');"
# A numeric, non-root user (runAsNonRoot can verify it); the files stay root-owned and read-only.
USER 10001:10001
# gRPC (config.ingest.grpcPort), HTTP JSON (config.ingest.httpPort) and metrics/probes.
EXPOSE 50051 8080 9464
ENTRYPOINT ["node", "--enable-source-maps", "services/ingest/dist/main.js"]
