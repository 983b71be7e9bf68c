# syntax=docker/dockerfile:1
# One image for every tokenkeeper app; the command picks the app:
#   api     node dist/apps/api/src/main.js        (default)
#   worker  node dist/apps/worker/src/main.js
#   agent   node dist/apps/agent/src/main.js --config /etc/tokenkeeper/agent.yaml
#   cli     node dist/apps/cli/src/main.js ...
# Build: docker build -t tokenkeeper:0.1.0 .

# --- build: compile TypeScript with the dev dependencies --------------------------------------
FROM node:24-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: the image already has Node 24, so the `node` dev dependency's download is skipped.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.base.json tsconfig.build.json ./
COPY scripts ./scripts
COPY apps ./apps
COPY libs ./libs
RUN npx tsc -b tsconfig.build.json && node scripts/copy-assets.mjs

# --- production dependencies only --------------------------------------------------------------
FROM node:24-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

# --- runtime: non-root, no compiler, no dev dependencies ---------------------------------------
FROM node:24-slim AS runtime
ENV NODE_ENV=production \
    TK_API_HOST=0.0.0.0 \
    TK_API_PORT=8080 \
    TK_DATA_DIR=/var/lib/tokenkeeper
WORKDIR /app
COPY --from=deps --chown=root:root /app/node_modules ./node_modules
COPY --from=build --chown=root:root /src/dist ./dist
COPY --chown=root:root package.json ./
RUN mkdir -p /var/lib/tokenkeeper /var/run/tokenkeeper \
    && chown node:node /var/lib/tokenkeeper /var/run/tokenkeeper \
    && chmod 0755 dist/apps/cli/src/main.js \
    && ln -s /app/dist/apps/cli/src/main.js /usr/local/bin/tokenkeeper
# The `node` user (uid 1000) of the base image; the code stays owned by root and read-only to it.
USER node
EXPOSE 8080
# Health checks live in docker-compose.yml and the k8s probes: only the api serves /health on 8080.
# The telemetry preload runs before the app (every command below is an argument to it): ES modules
# bind their imports first, so only a preload lets OpenTelemetry patch node:http for outgoing calls.
ENTRYPOINT ["node", "--import", "./dist/libs/telemetry/src/register.js"]
CMD ["dist/apps/api/src/main.js"]
