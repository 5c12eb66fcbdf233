"""The pipeline options object a run builds its graph with (imports Beam: loaded only when a
run is about to build one)."""

from __future__ import annotations

import weakref

from apache_beam.options.pipeline_options import PipelineOptions

# One dict of views per options object, outside the object: its ``__dict__`` is what pickling
# and Beam's own copies of it carry, and the views need not travel.
_VIEWS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class RunOptions(PipelineOptions):
    """``PipelineOptions`` whose views are made once per options class.

    Beam asks the pipeline's options for a view at almost every transform it applies (~430
    times for newsbeam's graph), and ``view_as`` builds each view by parsing the command line
    again with a fresh argparse parser: 0.2 s of the ~0.3 s the graph took, on the start of
    every run. A view holds no state of its own (its values live in the ``_all_options`` dict
    it shares with this object and every other view), so the one made first serves every
    later request for the same class and sees every change made through any view.
    """

    def view_as(self, cls):
        views = _VIEWS.setdefault(self, {})
        view = views.get(cls)
        if view is None:
            view = views[cls] = super().view_as(cls)
        return view
