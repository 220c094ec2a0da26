# One image for the scheduler, the workers and clients: `troupe <command>`.
#   docker build -t troupe .
#   docker run troupe scheduler --help
# User code that workers import by module must be in the image (or mounted)
# under the same path as on the client: extend this image with your own
# modules (FROM troupe, COPY . /app/yourcode) or mount them, and pass
# --code-root where they are not under /app.

# Build stage: the TypeScript build and the shared-memory addon (node-gyp
# needs python3, make and g++, which the final image does without).
FROM node:20-bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
# node-gyp builds against the headers the base image ships, downloading nothing.
ENV npm_config_nodedir=/usr/local
WORKDIR /app
COPY package.json package-lock.json binding.gyp tsconfig.json tsconfig.build.json ./
COPY native ./native
COPY src ./src
# Runs the package's own install (the addon) and prepare (tsc) scripts.
RUN npm ci --no-audit --no-fund \
 && npm prune --omit=dev --no-audit --no-fund

# Final stage: production dependencies, the build, the addon, the examples.
FROM node:20-bookworm-slim
ENV NODE_ENV=production
# Large buffers on huge pages in every process of the image, clients and
# workers run without a nanny included (see src/cluster/huge-pages.ts).
ENV GLIBC_TUNABLES=glibc.malloc.hugetlb=1
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/build/Release/troupe_shm.node ./build/Release/troupe_shm.node
COPY examples ./examples
COPY LICENSE README.md ./
# The base image's unprivileged user (uid 1000): a cluster runs code it is sent.
USER node
# 8786: scheduler; 8787: its dashboard and /health; 8788: a worker; 8789: a worker's /health.
EXPOSE 8786 8787 8788 8789
ENTRYPOINT ["node", "/app/dist/cli/main.js"]
CMD ["--help"]
