# The esm binary: API, worker and the operator commands; esm-healthcheck is the containers' health
# check (docker-compose.yml). The working directory is /, so `esm catalog apply -f examples` reads
# /examples as `esm topology` reads the repository's examples/.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /esm ./cmd/esm && \
    CGO_ENABLED=0 go build -trimpath -o /esm-healthcheck ./cmd/esm-healthcheck

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /esm /esm
COPY --from=build /esm-healthcheck /esm-healthcheck
COPY examples /examples
USER nonroot
WORKDIR /
ENTRYPOINT ["/esm"]
