"""VolumeImages from http(s) locations are fetched like MachineImages
(issue 11, with item 1): CREATING until an image.download Job has put the
file into the storage directory, then AVAILABLE with imageLocation naming
that file (or ERROR with the same tenant-safe messages); the same
destination policy (`--download-allow`) and limits; a Volume made from the
image is an overlay on that file, and deleting the image removes it.
The loopback mirror and helpers are test_downloads.py's."""

import os
import time

from cimitest import check_created, NS, Client, Daemon, assert_error, check, eq, isin, test
from test_downloads import PAYLOAD, REFUSED, assert_refused, daemon, fetch, server, stored

GIB = 1024 * 1024


def volume_from(c, name, image):
    """A Volume made from the VolumeImage image; waits until it is AVAILABLE."""
    r = c.post(c.add_href("volumes"), {
        "resourceURI": NS + "/VolumeCreate", "name": name,
        "volumeTemplate": {"volumeConfig": {"capacity": GIB}, "volumeImage": {"href": image["id"]}}})
    check_created(r, f"create volume {name}")
    c.wait_job(r.header("CIMI-Job-URI"), timeout=60)
    return c.wait_state(r.header("Location"), "AVAILABLE", timeout=60)


def delete_and_wait(c, doc):
    """DELETE doc, wait for its Job if it has one, and until it is gone."""
    r = c.delete(doc["id"])
    check(r.status in (200, 202), f"delete {doc['id']} (reply {r.status} {r.body[:300]!r})")
    if r.header("CIMI-Job-URI"):
        c.wait_job(r.header("CIMI-Job-URI"), timeout=60)
    deadline = time.time() + 60
    while c.get(doc["id"]).status != 404:
        check(time.time() < deadline, f"{doc['id']} is gone within 60 s")
        time.sleep(0.2)


@test
def download_volume_image_fetched_into_storage():
    """--download-allow 127.0.0.1/32: the VolumeImage is fetched into
    STORAGE/images/<id>.img and names it; a Volume made from it keeps the
    image's file in use (409); once the Volume is gone, deleting the image
    removes the file."""
    d = daemon("dl-allow", "--download-allow", "127.0.0.1/32")
    c = Client(d, "alice")
    s = server()
    before = s.requests
    job, img = fetch(c, s.url(), expect=None, rtype="VolumeImage")
    if job.get("statusMessage") == "download failed: no complete HTTP answer":
        # Seen twice in full runs on a loaded machine, never alone: the loopback
        # mirror's answer was cut.  What libcurl said is in the daemon's log;
        # print it and fetch once more (the second fetch must succeed).
        with open(d.log_path) as f:
            said = [line for line in f if "download:" in line][-3:]
        print(f"# mirror answer cut ({s.requests - before} request(s)); cimid logged: {said}",
              flush=True)
        eq(c.delete(img["id"]).status, 200, "delete the failed image")
        before = s.requests
        job, img = fetch(c, s.url(), expect=None, rtype="VolumeImage")
    eq(job.get("state"), "SUCCESS", f"the download succeeded ({job.get('statusMessage')})")
    eq(s.requests, before + 1, "the mirror was asked once")
    isin(str(len(PAYLOAD)), job.get("statusMessage", ""), "the Job reports the size fetched")
    uuid = img["id"].rsplit("/", 1)[1]
    path = os.path.join(d.storage, "images", uuid + ".img")
    eq(img.get("imageLocation"), "file://" + path, "imageLocation names the stored file")
    with open(path, "rb") as f:
        eq(f.read() == PAYLOAD, True, "the stored file holds what the mirror served")

    v = volume_from(c, "from-download", img)
    assert_error(c.delete(img["id"]), 409, mention="base")
    eq(os.path.exists(path), True, "the file stays while a Volume is made from it")
    delete_and_wait(c, v)
    delete_and_wait(c, img)
    eq(os.path.exists(path), False, "deleting the image removed its file")
    check(uuid + ".img" not in stored(d), "nothing of the image is left in storage")


@test
def download_volume_image_refused_by_default():
    """Without --download-allow a VolumeImage from loopback is refused at
    connect time, exactly as a MachineImage: the one message, no request
    reached the server, no file kept."""
    d = daemon("dl-default")
    s = server()
    for user in ("alice", "admin"):
        c = Client(d, user)
        for url in (s.url(), s.url(host="localhost"), s.url("redirect?" + s.url())):
            assert_refused(c, d, url, [s], rtype="VolumeImage")


@test
def download_volume_image_failures():
    """The same tenant-safe messages as for MachineImages; the image ends
    ERROR, keeps no file, and can be deleted."""
    d = daemon("dl-allow", "--download-allow", "127.0.0.1/32")
    c = Client(d, "alice")
    s = server()
    for url, message in ((s.url("missing.raw"), "download failed: HTTP 404"),
                         ("http://127.0.0.1:1/nothing.raw", "download failed: could not connect")):
        files = stored(d)
        job, img = fetch(c, url, rtype="VolumeImage")
        eq(job.get("statusMessage"), message, f"the Job of {url} says why")
        eq(img.get("imageLocation"), url, "a failed image keeps the URL it was given")
        eq(stored(d), files, "no file kept")
        assert_error(c.post(c.add_href("volumes"), {
            "resourceURI": NS + "/VolumeCreate", "name": "from-error",
            "volumeTemplate": {"volumeConfig": {"capacity": GIB},
                               "volumeImage": {"href": img["id"]}}}), 409, mention="AVAILABLE")
        eq(c.delete(img["id"]).status, 200, "an image in ERROR can be deleted")


@test
def download_volume_image_needs_storage_on_test_driver():
    s = server()
    with Daemon(name="vi-nostorage", args=["--download-allow", "127.0.0.1/32"]) as d:
        job, img = fetch(Client(d, "alice"), s.url(), rtype="VolumeImage")
        isin("--storage-dir", job.get("statusMessage", ""), "the Job says what is missing")


@test
def qemu_volume_from_downloaded_image():
    """On QEMU (no guest booted) a Volume made from a downloaded VolumeImage
    is a qcow2 overlay on the downloaded file."""
    from test_qemu import qemu_daemon, qemu_img_info
    s = server()
    with qemu_daemon("qemu-vi-download", args=["--download-allow", "127.0.0.1/32"]) as d:
        c = Client(d, "alice")
        job, img = fetch(c, s.url(), expect="SUCCESS", rtype="VolumeImage")
        path = img["imageLocation"][len("file://"):]
        eq(os.path.dirname(path), os.path.join(d.root, "storage", "images"),
           "the image is a file in the storage directory")
        v = volume_from(c, "from-download", img)
        volume = os.path.join(d.root, "storage", "volumes", v["id"].rsplit("/", 1)[1] + ".qcow2")
        isin(f"backing file: {path}", qemu_img_info(volume), "the volume is an overlay on it")
        delete_and_wait(c, v)
        delete_and_wait(c, img)
        eq(os.path.exists(path), False, "deleting the image removed its file")
