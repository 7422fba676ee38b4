"""Import of EVE's static data export (SDE) from Fuzzwork-style CSV tables (see
:mod:`market.sde.importer`):

- ``tables``: the tables Lenny imports, their columns and references, and the errors;
- ``files``: reading a folder of table files, or downloading them from a URL;
- ``parse``: the tables parsed (pure: bytes in, rows out);
- ``importer``: the parsed tables written, parents first (:func:`sde_import`).

``market.sde_source`` keeps the installed SDE in step with its source (``LENNY_SDE_URL``).
"""

from market.sde.files import SdeDownload, SdeFile, sde_download, sde_files_read
from market.sde.importer import ImportReport, TableReport, sde_import, sde_table_load
from market.sde.parse import ParsedTable, csv_decode, sde_parse, sde_table_parse
from market.sde.tables import TABLES, TABLES_BY_NAME, SdeError, SdeFileError, TableSpec

__all__ = [
    "TABLES",
    "TABLES_BY_NAME",
    "ImportReport",
    "ParsedTable",
    "SdeDownload",
    "SdeError",
    "SdeFile",
    "SdeFileError",
    "TableReport",
    "TableSpec",
    "csv_decode",
    "sde_download",
    "sde_files_read",
    "sde_import",
    "sde_parse",
    "sde_table_load",
    "sde_table_parse",
]
