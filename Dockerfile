# Multi-stage image for every Loop DM app; docker-compose picks the app with APP.
# Stage 1: install all workspace dependencies from the lockfile.
FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages/platform/package.json packages/platform/
COPY packages/db/package.json packages/db/
COPY packages/redis/package.json packages/redis/
COPY packages/queues/package.json packages/queues/
COPY packages/models/package.json packages/models/
COPY packages/training-data/package.json packages/training-data/
COPY packages/testing/package.json packages/testing/
COPY apps/gateway/package.json apps/gateway/
COPY apps/exporter/package.json apps/exporter/
COPY apps/tuner/package.json apps/tuner/
COPY apps/evaluator/package.json apps/evaluator/
COPY apps/openai-local/package.json apps/openai-local/
RUN npm ci --no-audit --no-fund

# Stage 2: sources, type-checked (the build gate).
FROM deps AS build
COPY . .
RUN npx turbo run typecheck

# Stage 3: runtime. tsx runs the TypeScript sources; no dev server, no compiler in the hot path.
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app /app
RUN mkdir -p /app/exports /app/logs /app/reports /app/.data/openai-local && chown -R node:node /app/exports /app/logs /app/reports /app/.data
USER node
ENV APP=gateway
EXPOSE 3000
CMD ["sh", "-c", "exec node --import tsx apps/${APP}/src/main.ts"]
