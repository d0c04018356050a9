# syntax=docker/dockerfile:1
# The fanout bridge image (live resources). Build from the repository root:
#   docker build -f deploy/docker/bridge.Dockerfile -t fanout/bridge:0.1.0 .
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
COPY services/bridge/package.json services/bridge/
RUN npm ci --no-audit --no-fund --ignore-scripts --workspace services/shared \
      --workspace services/bridge --include-workspace-root
COPY services/shared services/shared
COPY services/bridge services/bridge
RUN node_modules/.bin/tsc -b services/bridge \
 && find services -name '*.test.js' -o -name '*.test.js.map' -o -name '*.test.d.ts*' | xargs rm -f

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
COPY services/shared/package.json services/shared/
COPY services/ingest/package.json services/ingest/
COPY services/edge/package.json services/edge/
COPY services/client/package.json services/client/
COPY services/bridge/package.json services/bridge/
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts \
      --workspace services/shared --workspace services/bridge \
 && npm cache clean --force \
 && mkdir -p services/shared/node_modules services/bridge/node_modules

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
# V8 heap bounds (docs/benchmarks.md, one bridge polling 1,000 resources): with an old space of at
# most 256 MB, V8 collects it when it has grown by about a third, instead of letting it reach four
# times what is live; 4 MB semi-spaces keep the young generation small. The chart's
# bridge.nodeOptions sets the same by default.
ENV NODE_OPTIONS="--max-old-space-size=256"
WORKDIR /app
COPY --from=deps /app /app
COPY --from=build /src/services/shared/dist services/shared/dist
COPY --from=build /src/services/shared/generated services/shared/generated
COPY --from=build /src/services/bridge/dist services/bridge/dist
# The service starts as far as reading its configuration: every module loads.
RUN node --input-type=module -e "await import('/app/services/shared/dist/index.js'); await import('/app/services/bridge/dist/index.js'); console.log('bridge modules load');"
# A numeric, non-root user (runAsNonRoot can verify it); the files stay root-owned and read-only.
USER 10001:10001
# The bridge HTTP server (config.bridge.port: leases, membership probes) and metrics/probes.
EXPOSE 8090 9464
ENTRYPOINT ["node", "--enable-source-maps", "services/bridge/dist/main.js"]
