# Node-RED with this package installed from the checkout, settings.js and the shipped flows.
ARG NODE_RED_IMAGE=nodered/node-red:5.0.4-22

# Build the package tarball (TypeScript -> dist/, flows -> examples/).
FROM node:22-bookworm AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts && npm rebuild better-sqlite3
COPY . .
RUN npm run build && npm pack --ignore-scripts && mv node-red-contrib-iot-pipelines-*.tgz /tmp/package.tgz

FROM ${NODE_RED_IMAGE}
USER root
COPY --from=build /tmp/package.tgz /tmp/package.tgz
# Installed beside Node-RED (not into the /data volume) so an image upgrade upgrades the nodes.
RUN cd /usr/src/node-red && npm install --omit=dev --no-audit --no-fund --allow-scripts=better-sqlite3 /tmp/package.tgz && rm /tmp/package.tgz
COPY settings.js /usr/src/node-red/iotp-settings.js
USER node-red
ENV NODE_RED_USER_DIR=/data HOST=0.0.0.0 IOTP_FLOWS_DIR=/usr/src/node-red/node_modules/node-red-contrib-iot-pipelines/examples
EXPOSE 1880
ENTRYPOINT ["node", "/usr/src/node-red/node_modules/node-red/red.js", "--settings", "/usr/src/node-red/iotp-settings.js", "--userDir", "/data"]
