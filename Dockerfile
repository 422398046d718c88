# The esm binary: API, worker and the operator commands.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /esm ./cmd/esm

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /esm /esm
COPY examples /examples
USER nonroot
ENTRYPOINT ["/esm"]
