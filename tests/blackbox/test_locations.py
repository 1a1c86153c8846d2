"""What imageLocation a new MachineImage or VolumeImage may have (issue 11,
item 10), checked at create: an http(s) URL with a host, a file that
resolves (symbolic links followed, no `..`) to a regular file in the image
directories (an admin's also in the storage directory, which holds every
tenant's data), or a Machine (MachineImage) or Volume (VolumeImage) of this
cloud.  Everything else is a 400 naming imageLocation and nothing is
stored, for tenants and admins alike, in JSON and XML."""

import os
import tempfile

import cimitest
from cimitest import (BOTH, NS, Client, assert_error, assert_unchanged, create_machine, eq,
                      shared, store_snapshot, test)

KINDS = (("machineImages", "MachineImage"), ("volumeImages", "VolumeImage"))


def daemon():
    """cimid with an images directory (good.disk, sub/inner.disk, and links
    leading out of it) and a storage directory holding images/stored.disk."""
    d = shared("locations", args=["--images-dir", _dirs()["images"],
                                  "--storage-dir", _dirs()["storage"]])
    d.dirs = _dirs()
    return d


_made = {}


def _dirs():
    if not _made:
        images = tempfile.mkdtemp(prefix="cimitest-locations-images-")
        storage = tempfile.mkdtemp(prefix="cimitest-locations-storage-")
        outside = tempfile.mkdtemp(prefix="cimitest-locations-outside-")
        cimitest._tmpdirs += [images, storage, outside]
        os.makedirs(os.path.join(images, "sub"))
        os.makedirs(os.path.join(storage, "images"))
        for path in (os.path.join(images, "good.disk"), os.path.join(images, "sub", "inner.disk"),
                     os.path.join(storage, "images", "stored.disk"),
                     os.path.join(outside, "secret.disk")):
            with open(path, "wb") as f:
                f.write(b"\0" * 4096)
        os.symlink(os.path.join(outside, "secret.disk"), os.path.join(images, "escape.disk"))
        os.symlink("/etc/passwd", os.path.join(images, "passwd.disk"))
        os.symlink(outside, os.path.join(images, "outside-dir"))
        os.symlink(os.path.join(images, "good.disk"), os.path.join(images, "alias.disk"))
        _made.update(images=images, storage=storage, outside=outside)
    return _made


def post(c, coll, rtype, location, name="loc"):
    # Some locations are no xs:anyURI: cimid must answer them all the same.
    return c.post(c.add_href(coll), {"resourceURI": NS + "/" + rtype, "name": name,
                                     "imageLocation": location}, validate_request=False)


def bad_locations(d, c, fmt):
    """Generated variants of what must be refused (for both kinds)."""
    images, storage, outside = d.dirs["images"], d.dirs["storage"], d.dirs["outside"]
    host_files = ["/etc/shadow", "/etc/passwd", "/proc/self/environ", "/dev/zero", "/",
                  d.db, os.path.join(outside, "secret.disk")]
    found = []
    for path in host_files:
        found += [path, "file://" + path]
    for inside in (images, os.path.join(images, "sub")):
        found += [inside + "/../" + os.path.basename(d.db), inside + "/../../etc/passwd",
                  "file://" + inside + "/../x.disk",
                  inside + "/sub/../good.disk", inside + "/./../good.disk",
                  inside + "/..", inside + "/"]
    found += [images + "/escape.disk", images + "/passwd.disk",          # links leading out
              images + "/outside-dir/secret.disk",                        # through a linked dir
              images, images + "/missing.disk", "file://" + images + "/missing.disk",
              "file://localhost" + images + "/good.disk",                # a host in file://
              "file:" + images + "/good.disk", "FILE://" + images + "/good.disk",
              "good.disk", "sub/inner.disk", "./good.disk", "../etc/passwd", "~/x.disk",
              "javascript:alert(1)", "data:application/octet-stream;base64,AAAA",
              "gopher://127.0.0.1:70/_x", "ftp://127.0.0.1/x.qcow2", "sftp://h/x.qcow2",
              "dict://127.0.0.1:11211/stat", "ldap://127.0.0.1/x", "tftp://127.0.0.1/x",
              "smb://h/x", "jar:http://h/x!/y", "mailto:root@localhost", "urn:x:y",
              "http://", "https://", "http:///x.qcow2", "http://[::1/x", "http://a b/x.qcow2",
              "machineConfigs/nope", "networks/nope", " "]
    if fmt == "json":
        found += [images + "/good\n.disk", "http://h/x\r\nHost: y", "/etc/passwd\t"]
    return found


@test(formats=BOTH)
def bad_locations_refused_at_create(fmt):
    d = daemon()
    admin, tenant = Client(d, "admin", fmt=fmt), Client(d, "alice", fmt=fmt)
    before = store_snapshot(admin)
    tried = 0
    for c in (tenant, admin):
        locations = bad_locations(d, c, fmt)
        for coll, rtype in KINDS:
            for location in locations:
                r = post(c, coll, rtype, location)
                assert_error(r, 400, mention="imageLocation", fmt=fmt)
                tried += 1
    assert_unchanged(admin, before, f"store after {tried} refused creates")
    assert_error(post(tenant, "machineImages", "MachineImage", ""), 400, mention="imageLocation",
                 fmt=fmt)


@test(formats=BOTH)
def other_kinds_of_resources_refused(fmt):
    """A MachineImage is made from a Machine, a VolumeImage from a Volume:
    another resource's id (of this cloud) is refused."""
    d = daemon()
    c = Client(d, "alice", fmt=fmt)
    m = create_machine(c, f"loc-src-{fmt}", "STOPPED")
    before = store_snapshot(c)
    for location in (m["id"], c.default_config()["id"], c.default_image()["id"]):
        assert_error(post(c, "volumeImages", "VolumeImage", location), 400,
                     mention="imageLocation", fmt=fmt)
    for location in (c.default_config()["id"], c.default_image()["id"], c.coll("volumes") + "/x"):
        r = post(c, "machineImages", "MachineImage", location)
        assert_error(r, 400, mention="imageLocation", fmt=fmt)
    assert_unchanged(c, before)
    eq(c.delete(m["id"]).status, 200, "delete the machine")


@test(formats=BOTH)
def good_locations_accepted(fmt):
    """Files in the image directories (also through a link that stays
    inside), and http(s) URLs; the storage directory only for an admin."""
    d = daemon()
    images, storage = d.dirs["images"], d.dirs["storage"]
    admin, tenant = Client(d, "admin", fmt=fmt), Client(d, "alice", fmt=fmt)
    good = [images + "/good.disk", "file://" + images + "/good.disk",
            images + "/sub/inner.disk", images + "//sub/inner.disk", images + "/alias.disk",
            # (never fetched: loopback is refused by default, see test_downloads.py)
            "http://127.0.0.1:1/x.qcow2", "HTTPS://127.0.0.1:1/a/b.raw?x=1"]
    stored_file = storage + "/images/stored.disk"
    for c in (tenant, admin):
        for coll, rtype in KINDS:
            for location in good + ([stored_file] if c is admin else []):
                r = post(c, coll, rtype, location)
                # 202 while its download runs (DSP0263 4.2.1.6), 201 when complete
                eq(r.status, 202 if r.doc.get("state") == "CREATING" else 201,
                   f"{c.user} {rtype} from {location} (reply {r.body[:300]!r})")
                img = c.read(r.header("Location"))
                eq(img.get("imageLocation"), location, "imageLocation kept as given")
                job = r.header("CIMI-Job-URI")
                if job:
                    c.wait_job(job, expect=None, timeout=60)
                eq(c.delete(img["id"]).status, 200, "delete")
    before = store_snapshot(admin)
    for coll, rtype in KINDS:
        for location in (stored_file, "file://" + stored_file):
            assert_error(post(tenant, coll, rtype, location), 400, mention="imageLocation",
                         fmt=fmt)
    assert_unchanged(admin, before)


@test(formats=BOTH)
def location_does_not_change_by_update(fmt):
    """A PUT cannot give an existing image another imageLocation (it would
    skip the check at create); other attributes still change."""
    d = daemon()
    good = d.dirs["images"] + "/good.disk"
    for user in ("alice", "admin"):
        c = Client(d, user, fmt=fmt)
        for coll, rtype in KINDS:
            r = post(c, coll, rtype, good, name="stays")
            eq(r.status, 201, f"{rtype} from {good}")
            img = c.read(r.header("Location"))
            for location in ("/etc/shadow", "file:///etc/passwd", good + "/../good.disk",
                             "gopher://127.0.0.1/x"):
                doc = dict(img, imageLocation=location)
                assert_error(c.put(img["id"], doc, validate_request=False), 400,
                             mention="imageLocation", fmt=fmt)
                eq(c.read(img["id"]).get("imageLocation"), good, f"{rtype} keeps its location")
            r = c.put(img["id"], dict(img, description="renamed"))
            eq(r.status, 200, f"{rtype}: other attributes change ({r.body[:200]!r})")
            eq(c.delete(img["id"]).status, 200, "delete")
