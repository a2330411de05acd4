// BlockedNodesPanel: the banner above the main window's content when the open model has operators without a
// kernel — "2 nodes cannot run" with one line per node (name, op type, opset or domain, the enclosing node of
// a subgraph's node). The model stays open for what does not run it (layers, weights, statistics, the graph);
// the banner says which runs are off. Double-clicking a node emits nodeActivated() with the name of the
// top-level node to select (the node itself, or the control-flow node whose subgraph holds it).
// Hidden when no node blocks the model.
#pragma once

#include <QFrame>

#include <vector>

#include "core/runtime/session.h"

class QLabel;
class QListWidget;

namespace cw::ui {

class BlockedNodesPanel : public QFrame {
    Q_OBJECT
public:
    explicit BlockedNodesPanel(QWidget *parent = nullptr);

    void setNodes(const std::vector<cw::UnsupportedNode> &nodes);
    QListWidget *list() const { return m_list; }
    QString title() const;

signals:
    void nodeActivated(const QString &name);

private:
    QLabel *m_title = nullptr;
    QListWidget *m_list = nullptr;
};

} // namespace cw::ui
