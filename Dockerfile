# eventops in a container: a static binary on a distroless base, run as a
# non-root user, with the data folder on a volume. Not built in CI (no
# container engine runs there); CI runs its build command (CGO_ENABLED=0 go build).
# See static/docs/deploying.md.
#
#   docker build -t eventops .
#   docker run -p 127.0.0.1:8080:8080 -v eventops-data:/data eventops

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/eventops .
# The data folder, owned by the runtime's non-root user: a new named volume
# takes the owner of the folder it is mounted on, and distroless has no
# shell to chown it at run time.
RUN mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/eventops /usr/local/bin/eventops
COPY --from=build --chown=65532:65532 /out/data /data
# The data folder (eventops.db, sealer.key, sandbox.db): keep it on a volume.
VOLUME /data
ENV EVENTOPS_DATA=/data \
    EVENTOPS_PUBLIC_URL=http://127.0.0.1:8080
EXPOSE 8080
# Listen on every interface inside the container; publish the port to the
# host's loopback and put the TLS proxy in front (deploying.md).
ENTRYPOINT ["/usr/local/bin/eventops"]
CMD ["serve", "--addr", "0.0.0.0:8080"]
