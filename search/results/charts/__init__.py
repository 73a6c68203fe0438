"""The charts of a search, drawn once: pure data functions (``data``) feed figure functions (``figures``,
``trial_figures``) that return matplotlib Figures; ``pointtune plot`` saves them as PNG, ``pointtune report``
embeds the same figures as SVG (``svg``)."""
