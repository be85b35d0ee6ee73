"""Photographs in and out of the model's layout: detect a face and its eyes
(``detection``), warp it to where the model's training portraits have theirs
(``layout``, ``alignment``), and warp an edit back into the photo (``pasting``).
``photos`` is the policy the commands share (``--align auto|on|off``, ``--face K``).
"""
