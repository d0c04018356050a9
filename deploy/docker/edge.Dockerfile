# syntax=docker/dockerfile:1
# The fanout edge image. Build from the repository root:
#   docker build -f deploy/docker/edge.Dockerfile -t fanout/edge:0.1.0 .
# Stages: build (TypeScript, then the edge bundled into one file: decision 050) → deps (production dependencies) → runtime (non-root, read-only
# root file system friendly). The build fails unless uWebSockets.js loads its native binary.
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
      --workspace services/edge --include-workspace-root
COPY services/shared services/shared
COPY services/edge services/edge
COPY deploy/tools/edge-bundle.mjs deploy/tools/
RUN node_modules/.bin/tsc -b services/edge \
 && node deploy/tools/edge-bundle.mjs \
 && find services -name '*.test.js' -o -name '*.test.js.map' -o -name '*.test.d.ts*' | xargs rm -f

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
COPY services/shared/package.json services/shared/
COPY services/ingest/package.json services/ingest/
COPY services/edge/package.json services/edge/
COPY services/client/package.json services/client/
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts \
      --workspace services/shared --workspace services/edge \
 && npm cache clean --force \
 && mkdir -p services/shared/node_modules services/edge/node_modules \
 # uWebSockets.js ships binaries for every platform and Node ABI; keep this one's.
 && keep="$(node -p '`uws_${process.platform}_${process.arch}_${process.versions.modules}.node`')" \
 && find node_modules/uWebSockets.js/binaries -type f ! -name "$keep" -delete \
 && test -f "node_modules/uWebSockets.js/binaries/$keep"

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app /app
COPY --from=build /src/services/shared/dist services/shared/dist
COPY --from=build /src/services/shared/generated services/shared/generated
COPY --from=build /src/services/edge/dist services/edge/dist
# Refuse to build an image whose edge would fall back to uWebSockets.js's JavaScript server
# (requireNativeUws, exported by the package's entry): the native binary must load for this
# platform and Node ABI. Importing the entry also loads every module the edge exports.
RUN node --input-type=module -e "const { requireNativeUws } = await import('@fanout/edge'); requireNativeUws(); console.log('uWebSockets.js native binary loads');"
# A numeric, non-root user (runAsNonRoot can verify it); the files stay root-owned and read-only.
USER 10001:10001
# The process runs the bundle (one file: start-up loads no module graph, decision 050); the
# packages it leaves out (uWebSockets.js, pino, @platformatic/wasm-utils) come from node_modules.
# Client port (config.edge.port) and the internal metrics/probe port (config.telemetry.metricsPort).
EXPOSE 8081 9464
ENTRYPOINT ["node", "--enable-source-maps", "services/edge/dist/bundle/edge.js"]
