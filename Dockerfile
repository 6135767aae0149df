# wsinit's images.
#
#   --target wsinit           the binary alone, FROM scratch: the injector image. Its entrypoint
#                             copies the binary into /projects/.wsinit/bin (an init container's job)
#   --target workspace-base   (the default) a workspace image on BASE with wsinit as ENTRYPOINT
#
# BASE is any Debian-like image (default debian:12). The workspace image is made for an arbitrary
# UID with GID 0: /etc/passwd, /etc/group and /home are writable by group 0 so wsinit can add the
# running user, and nothing is weakened: no host keys baked in (each workspace makes its own), no
# empty password through PAM, /etc/shadow as Debian ships it.
ARG BASE=debian:12

FROM ${BASE} AS build
WORKDIR /src
COPY . .
RUN ./scripts/install-deps build && WSINIT_TESTS=OFF ./scripts/build

FROM scratch AS wsinit
COPY --from=build /src/build/wsinit /wsinit
ENTRYPOINT ["/wsinit", "install", "/projects/.wsinit/bin"]

FROM ${BASE} AS workspace-base
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      bash ca-certificates git openssh-server \
 && rm -rf /var/lib/apt/lists/* \
 # openssh-server's install made host keys; a key shared by every workspace is no host key at all.
 && rm -f /etc/ssh/ssh_host_*_key /etc/ssh/ssh_host_*_key.pub \
 # The arbitrary-UID convention: group 0 may append the running user and make its home.
 && chgrp 0 /etc/passwd /etc/group /home \
 && chmod g+w /etc/passwd /etc/group \
 && chmod 0775 /home \
 && mkdir -p /projects && chgrp 0 /projects && chmod 0775 /projects
COPY --from=build /src/build/wsinit /usr/local/bin/wsinit
WORKDIR /projects
EXPOSE 60001 60022 60080
USER 5001:0
ENTRYPOINT ["/usr/local/bin/wsinit"]
