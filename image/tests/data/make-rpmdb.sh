#!/bin/sh
# Writes rpmdb.sqlite, the rpm database the image tests read, with the real
# rpm (Debian's `rpm` package, 4.18: sqlite backend): two packages built
# with rpmbuild and recorded with `rpm -i --justdb`, one with an epoch.
set -eu
out=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat > "$work/hello.spec" <<'SPEC'
Name: hello-customs
Version: 1.2.3
Release: 4.el9
Summary: test
License: MIT
BuildArch: x86_64
%description
t
%install
mkdir -p %{buildroot}/usr/bin
echo '#!/bin/sh' > %{buildroot}/usr/bin/hello
chmod 755 %{buildroot}/usr/bin/hello
%files
/usr/bin/hello
SPEC
cat > "$work/tzdata.spec" <<'SPEC'
Name: tzdata-customs
Epoch: 2
Version: 2024a
Release: 1.el9
Summary: test two
License: Public Domain
BuildArch: noarch
%description
t
%files
SPEC
for spec in hello tzdata; do
  rpmbuild -bb --define "_topdir $work/top" "$work/$spec.spec" >/dev/null
done
mkdir "$work/db"
rpm --dbpath "$work/db" --initdb
rpm --dbpath "$work/db" -i --justdb --nodeps --ignorearch --ignoreos "$work"/top/RPMS/*/*.rpm
cp "$work/db/rpmdb.sqlite" "$out/rpmdb.sqlite"
