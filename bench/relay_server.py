"""The baseline: stock aiortc as most tutorials use it, ``MediaRelay`` into each subscriber's
sender. It decodes each published track once and encodes it again for every subscriber.

Minimal HTTP signaling (this is a measurement fixture, not a product):
``POST /publish {sdp}`` → ``{sdp}``; ``POST /subscribe`` → ``{id, sdp}`` (server offer);
``POST /subscribe/{id} {sdp}`` (client answer).
"""

from __future__ import annotations

import argparse
import asyncio
import uuid

from aiohttp import web
from aiortc import (
    MediaStreamTrack,
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.contrib.media import MediaRecorder, MediaRelay

from signaling.media.adapter import restrict_host_addresses

routes = web.RouteTableDef()
PEERS = web.AppKey("peers", dict[str, RTCPeerConnection])
TRACKS = web.AppKey("tracks", list[MediaStreamTrack])
RELAY = web.AppKey("relay", MediaRelay)
RECORDERS = web.AppKey("recorders", list[MediaRecorder])


def configuration() -> RTCConfiguration:
    return RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)


@routes.post("/publish")
async def publish(request: web.Request) -> web.Response:
    offer = await request.json()
    pc = RTCPeerConnection(configuration())
    request.app[PEERS][uuid.uuid4().hex] = pc
    # ?record=PATH: aiortc's own MediaRecorder (decodes, re-encodes) writes what arrives.
    recorder = MediaRecorder(request.query["record"]) if "record" in request.query else None

    @pc.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        request.app[TRACKS].append(track)
        if recorder is not None:
            recorder.addTrack(track)

    await pc.setRemoteDescription(RTCSessionDescription(offer["sdp"], "offer"))
    if recorder is not None:
        await recorder.start()
        request.app[RECORDERS].append(recorder)
    await pc.setLocalDescription(await pc.createAnswer())
    assert pc.localDescription is not None
    return web.json_response({"sdp": pc.localDescription.sdp})


@routes.post("/subscribe")
async def subscribe(request: web.Request) -> web.Response:
    pc = RTCPeerConnection(configuration())
    peer_id = uuid.uuid4().hex
    request.app[PEERS][peer_id] = pc
    for track in request.app[TRACKS]:
        pc.addTransceiver(request.app[RELAY].subscribe(track), direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    assert pc.localDescription is not None
    return web.json_response({"id": peer_id, "sdp": pc.localDescription.sdp})


@routes.post("/subscribe/{peer_id}")
async def answer(request: web.Request) -> web.Response:
    body = await request.json()
    pc = request.app[PEERS][request.match_info["peer_id"]]
    await pc.setRemoteDescription(RTCSessionDescription(body["sdp"], "answer"))
    return web.json_response({})


@routes.post("/reset")
async def reset(request: web.Request) -> web.Response:
    peers = list(request.app[PEERS].values())
    request.app[PEERS].clear()
    for recorder in request.app[RECORDERS]:
        await recorder.stop()
    request.app[RECORDERS].clear()
    request.app[TRACKS].clear()
    request.app[RELAY] = MediaRelay()
    await asyncio.gather(*(pc.close() for pc in peers))
    return web.json_response({})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = web.Application()
    app[PEERS] = {}
    app[TRACKS] = []
    app[RELAY] = MediaRelay()
    app[RECORDERS] = []
    app.router.add_routes(routes)
    with restrict_host_addresses(("127.0.0.1",)):
        web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
