# loki-guard container image: loki-webhook (the entrypoint) and loki-audit on
# an empty base: the binaries, the shared libraries they load, the CA bundle,
# /etc/passwd + /etc/group (nonroot 65532, as distroless) and /tmp. No shell,
# no package manager, no coreutils: `docker exec ... sh` has nothing to run.
#
#   docker build -t loki-guard:0.1.0 .
#   docker run --rm loki-guard:0.1.0 --version
#   docker run --rm --entrypoint /usr/bin/loki-audit -v "$PWD:/work:ro" loki-guard:0.1.0 lint /work/k8s
#
# The root filesystem is made by scripts/make-rootfs.sh, the same script that
# tests/image/run.sh (ctest image-rootfs) runs and checks under chroot, with
# this file's final-stage USER, ENV and ENTRYPOINT.

FROM debian:12 AS build
WORKDIR /src
# Dependencies first: this layer is reused until setup-deps.sh changes.
COPY scripts/setup-deps.sh scripts/setup-deps.sh
RUN scripts/setup-deps.sh && rm -rf /var/lib/apt/lists/*
COPY . .
# No options exist to skip the tests and benchmarks at configure time (doctest
# is a required package); building only the two targets leaves them unbuilt.
RUN cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DLOKI_CLUSTER_TESTS=OFF \
 && cmake --build build --target loki-webhook loki-audit \
 && scripts/make-rootfs.sh /rootfs build/bin

FROM scratch
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="loki-guard" \
      org.opencontainers.image.description="Admission webhook (loki-webhook) and CLI (loki-audit) that keep AI coding-agent (loki-mode) pods locked down" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="scratch"
COPY --from=build /rootfs /
# OpenSSL looks for CAs in /usr/lib/ssl (its OPENSSLDIR), which the image does
# not have; without this, a kubeconfig without certificate-authority(-data)
# could not verify any API server.
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
USER 65532:65532
EXPOSE 8443
ENTRYPOINT ["/usr/bin/loki-webhook"]
