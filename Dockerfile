# satwarden — multi-stage image: build on Debian 12, run as a non-root user. MCP over stdio by default (what
# Claude Desktop, `claude mcp add` and other local clients start), ledger in a volume:
#   docker run -i --rm -v satwarden-data:/var/lib/satwarden/data -e NWC_URL=... satwarden
# HTTP on 8402 by env or flag; a bearer token is then required (the server refuses to listen beyond loopback
# without one):
#   docker run -p 8402:8402 -e SATWARDEN_TRANSPORT=http -e SATWARDEN_TOKENS=$(openssl rand -hex 24) -e NWC_URL=... satwarden
FROM debian:12-slim AS build
WORKDIR /src
COPY scripts/setup.sh scripts/setup.sh
RUN scripts/setup.sh
COPY . .
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DSW_BUILD_TESTS=OFF -DSW_FAILPOINTS=OFF \
 && cmake --build /build -j"$(nproc)" \
 && strip /build/src/app/satwarden /build/src/app/libsatwarden_http.so

FROM debian:12-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libsecp256k1-1 libwebsockets17 \
      libssl3 libcpp-httplib0.11 libpq5 libqrencode4 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --create-home --home-dir /var/lib/satwarden --uid 10402 satwarden \
 && install -d -m 0700 -o satwarden -g satwarden /var/lib/satwarden/data
# The data directory exists in the image, owned by the server's user: a named volume mounted there starts with that
# owner and mode (a path the image lacks would be created root-owned, and the server could not write its ledger).
COPY --from=build /build/src/app/satwarden /usr/local/bin/satwarden
# The HTTP transport and the outbound fetcher are loaded from next to the binary; libpq5 only when
# SATWARDEN_LEDGER_URL points the ledger at PostgreSQL (a fleet behind a load balancer).
COPY --from=build /build/src/app/libsatwarden_http.so /usr/local/bin/libsatwarden_http.so
COPY scripts/docker-healthcheck.sh /usr/local/bin/satwarden-healthcheck
USER satwarden
# No SATWARDEN_TRANSPORT: stdio unless -e SATWARDEN_TRANSPORT=http or --transport http. HOST/PORT apply to HTTP.
ENV SATWARDEN_HOST=0.0.0.0 \
    SATWARDEN_PORT=8402 \
    SATWARDEN_DATA_DIR=/var/lib/satwarden/data
VOLUME ["/var/lib/satwarden/data"]
EXPOSE 8402
# Over stdio: healthy while the server runs; over HTTP: GET /healthz must answer 200.
HEALTHCHECK --interval=30s --timeout=3s CMD ["/usr/local/bin/satwarden-healthcheck"]
ENTRYPOINT ["/usr/local/bin/satwarden"]
