# syntax=docker/dockerfile:1
#
# cedargate image: `docker run -p 8080:8080 cedargate` runs `start` (backend + sidecar, embedded
# defaults); `docker run cedargate sidecar` and `... backend` are the two containers of a
# Kubernetes pod (k8s/). test/deploy/dockerfile.test.ts replays these steps without a Docker
# engine; docs/deployment.md explains the commands.

# The image runs the current Node LTS; CI runs the test suite on Node 20 (package.json engines
# accept both). Build with another one: docker build --build-arg NODE_VERSION=20 .
ARG NODE_VERSION=22

FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
# better-sqlite3 is a native addon: when no prebuilt binary can be downloaded, node-gyp compiles
# it, and that needs a toolchain. It stays in this stage only.
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 make g++ \
    && rm -rf /var/lib/apt/lists/*
# Exactly what `npm ci` needs: the lockfile, and the sources its `prepare` script (tsc) compiles.
COPY package.json package-lock.json tsconfig.json ./
COPY bin ./bin
COPY src ./src
COPY policies ./policies
# The playground page's files (PLAYGROUND=true), served as they are.
COPY static ./static
RUN npm ci
# The runtime needs no compiler, linter or test tools.
RUN npm prune --omit=dev

FROM node:${NODE_VERSION}-bookworm-slim AS runtime
ENV NODE_ENV=production \
    DATA_DIR=/var/lib/cedargate
WORKDIR /app
# Owned by root and not writable by the process: the code cannot be changed at run time.
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/bin ./bin
COPY --from=build /app/policies ./policies
COPY --from=build /app/static ./static
# DATA_DIR (SQLite store, development keys) is the only place the process writes.
RUN mkdir -p /var/lib/cedargate && chown node:node /var/lib/cedargate
VOLUME ["/var/lib/cedargate"]
# The image's `node` user, by number so Kubernetes' runAsNonRoot can verify it.
USER 1000:1000
# PORT (the API, all interfaces) and ADMIN_PORT (/healthz, /readyz, /metrics, /status). The
# backend's 8081 stays on 127.0.0.1 inside the container.
EXPOSE 8080 9901
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.ADMIN_PORT||9901)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "bin/cedargate"]
CMD ["start"]
