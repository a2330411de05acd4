// LmTensorModel: a language model's tensors as a two-level tree, grouped the way a transformer is built: the
// embeddings, then each block (attention norm, Q / K / V or the fused QKV, the attention output; the MLP norm,
// gate, up, down; biases after their weight), then the output (final norm, LM head), and anything the runner
// does not use under "Other". A group row sums its tensors' parameters and bytes. Read-only.
#pragma once

#include <QAbstractItemModel>

#include <cstdint>
#include <vector>

#include "core/lm/model.h"

namespace cw::ui {

class LmTensorModel : public QAbstractItemModel {
    Q_OBJECT
public:
    enum Column { Part, Shape, Type, Bytes, Parameters, Name, ColumnCount };
    static constexpr int TensorNameRole = Qt::UserRole + 1; // the tensor's name in the file; "" on a group row

    struct Group {
        QString title;                // "Embeddings", "Block 3", "Output", "Other"
        int block = -1;               // the transformer block, -1 for the others
        std::vector<size_t> tensors;  // indices into the model's tensors(), in display order
        int64_t parameters = 0;
        int64_t bytes = 0;
    };

    explicit LmTensorModel(QObject *parent = nullptr);

    // The model's tensor table (nullptr: none); the model must outlive its use here.
    void setModel(const cw::lm::LanguageModel *model);
    const std::vector<Group> &groups() const { return m_groups; }

    // The row of a tensor by its name in the file (invalid when there is none), and back.
    QModelIndex indexOfTensor(const QString &name) const;
    QString tensorName(const QModelIndex &index) const;

    // What a role does, for people: "Attention Q", "MLP down bias", "Token embedding".
    static QString partLabel(const std::string &role);

    QModelIndex index(int row, int column, const QModelIndex &parent = {}) const override;
    QModelIndex parent(const QModelIndex &child) const override;
    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

private:
    const cw::lm::LanguageModel *m_model = nullptr;
    std::vector<Group> m_groups;
};

} // namespace cw::ui
