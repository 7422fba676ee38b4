"""The five trade hubs. Their ids come from the SDE; they are fixed facts of New Eden."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Hub:
    key: str
    name: str
    station_id: int
    system_id: int
    region_id: int
    region_name: str


HUBS: tuple[Hub, ...] = (
    Hub(
        "jita",
        "Jita IV - Moon 4 - Caldari Navy Assembly Plant",
        60003760,
        30000142,
        10000002,
        "The Forge",
    ),
    Hub("amarr", "Amarr VIII - Emperor Family Academy", 60008494, 30002187, 10000043, "Domain"),
    Hub(
        "dodixie",
        "Dodixie IX - Moon 20 - Federation Navy Assembly Plant",
        60011866,
        30002659,
        10000032,
        "Sinq Laison",
    ),
    Hub(
        "rens", "Rens VI - Moon 8 - Brutor Tribe Treasury", 60004588, 30002510, 10000030, "Heimatar"
    ),
    Hub(
        "hek",
        "Hek VIII - Moon 12 - Boundless Creation Factory",
        60005686,
        30002053,
        10000042,
        "Metropolis",
    ),
)
HUBS_BY_KEY = {hub.key: hub for hub in HUBS}
HUBS_BY_STATION = {hub.station_id: hub for hub in HUBS}
HUB_REGION_IDS = tuple(hub.region_id for hub in HUBS)


def hub_short_name(hub: Hub) -> str:
    return hub.name.split(" ", 1)[0]
