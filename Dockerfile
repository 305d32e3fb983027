# Node-RED with this package installed from the checkout, settings.js and the shipped flows.
# The base is the official image; NODE_RED_IMAGE picks another tag (compose passes it from .env).
ARG NODE_RED_IMAGE=nodered/node-red:4.1.15-22

# 1. Build the package tarball from the checkout: TypeScript -> dist/, flows/ -> examples/.
FROM node:22-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# Dev dependencies only for the build; no install scripts (better-sqlite3 is built in stage 2).
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY . .
RUN node scripts/build.mjs && npm pack --ignore-scripts --pack-destination /tmp && mv /tmp/node-red-contrib-iot-pipelines-*.tgz /tmp/package.tgz

# 2. The runtime: the official Node-RED image plus the tarball, as `npm install <tarball>` does it,
# and Dashboard 2.0 for the dashboard pages (the version the tests ran with: package.json's
# devDependencies pin it, test/package/compose.test.ts checks the two agree).
FROM ${NODE_RED_IMAGE}
ARG DASHBOARD_VERSION=1.31.0
USER root
COPY --from=build /tmp/package.tgz /tmp/package.tgz
# Installed beside Node-RED (not into the /data volume), so a rebuilt image brings new nodes even
# when /data already exists. Node-RED finds modules in its own node_modules. The check fails the
# build when no SQLite driver (node:sqlite or better-sqlite3; the rolling-averages flow needs one) loads.
RUN cd /usr/src/node-red \
 && npm install --omit=dev --no-audit --no-fund --no-update-notifier /tmp/package.tgz "@flowfuse/node-red-dashboard@${DASHBOARD_VERSION}" \
 && rm /tmp/package.tgz \
 && node -e "require('node-red-contrib-iot-pipelines/dist/lib/runtime-env.js'); console.log('SQLite driver:', require('node-red-contrib-iot-pipelines/dist/lib/db/sqlite-driver.js').pickDriver('auto'))"
COPY settings.js /usr/src/node-red/iotp-settings.js
USER node-red
# settings.js seeds /data/flows.json from the package's examples/ on first start (the dashboard
# pages too: Dashboard 2.0 is installed beside Node-RED; they answer at /dashboard).
ENV NODE_RED_USER_DIR=/data HOST=0.0.0.0 PORT=1880 \
    IOTP_FLOWS_DIR=/usr/src/node-red/node_modules/node-red-contrib-iot-pipelines/examples
EXPOSE 1880
# The base image's health check reads /data/settings.js, which this image does not use.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:1880/',{signal:AbortSignal.timeout(8000)}).then(r=>process.exit(r.status<500?0:1),()=>process.exit(1))"
ENTRYPOINT ["node", "/usr/src/node-red/node_modules/node-red/red.js", "--settings", "/usr/src/node-red/iotp-settings.js", "--userDir", "/data"]
