// The large numbers a view shows beside its chart (Inspect's SQNR and sizes, Evaluate's perplexity): each a grey
// caption over a large bold value, both with the same tooltip, stacked in a panel.
#pragma once

#include <QString>

class QBoxLayout;
class QLabel;

namespace cw::ui {

// A large bold value, "—" until it is set, selectable with the mouse.
QLabel *newValueLabel(const QString &objectName);
// `caption` over `value`, both with `tip`, added to the panel's `layout` with a little space after.
void addNumber(QBoxLayout *layout, const QString &caption, QLabel *value, const QString &tip);

} // namespace cw::ui
