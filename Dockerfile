# syntax=docker/dockerfile:1
# Build: docker build -t aupguard .   Run: see docker-compose.yml and README.md.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=""
# Static binary: no libc needed in the runtime image.
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/aupguard ./cmd/aupguard \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/aupguard /usr/local/bin/aupguard
COPY deploy/container.yaml /etc/aupguard/aupguard.yaml
# ./data (embedded store, spool, signing key) resolves to /app/data.
COPY --from=build --chown=65532:65532 /out/data /app/data
WORKDIR /app
USER 65532:65532
EXPOSE 8080 8081
VOLUME ["/app/data"]
ENTRYPOINT ["/usr/local/bin/aupguard"]
CMD ["serve", "--config", "/etc/aupguard/aupguard.yaml"]
