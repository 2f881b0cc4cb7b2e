"""Keras-compatible layers: ``from clearconv.layers import Conv2D`` as ``from keras.layers import Conv2D``."""

from .base import Layer, SymbolicTensor
from .conv import (Conv1D, Conv1DTranspose, Conv2D, Conv2DTranspose, Conv3D, Conv3DTranspose, Convolution1D,
                   Convolution2D, Convolution3D, DepthwiseConv1D, DepthwiseConv2D, SeparableConv1D,
                   SeparableConv2D, SeparableConvolution1D, SeparableConvolution2D)
from .conv import Conv1DTranspose as Convolution1DTranspose  # Keras's aliases
from .conv import Conv2DTranspose as Convolution2DTranspose
from .conv import Conv3DTranspose as Convolution3DTranspose
from .core import (ELU, Activation, Dense, Dropout, Flatten, Input, InputLayer, LeakyReLU, PReLU, ReLU, Reshape,
                   Softmax)
from .identity import Identity
from .augmentation import RandomContrast, RandomCrop, RandomFlip
from .augmentation_geometric import RandomRotation, RandomTranslation, RandomZoom
from .image_preprocessing import CenterCrop, Resizing
from .lambda_layer import Lambda
from .merge import (Add, Average, Concatenate, Dot, Maximum, Minimum, Multiply, Subtract, add, average, concatenate, dot,
                    maximum, minimum, multiply, subtract)
from .normalization import BatchNormalization, GroupNormalization, LayerNormalization, UnitNormalization
from .permute import Permute
from .regularization import (ActivityRegularization, GaussianDropout, GaussianNoise, SpatialDropout1D,
                             SpatialDropout2D, SpatialDropout3D)
from .repeat_vector import RepeatVector
from .preprocessing import Normalization, Rescaling
from .pooling import (AveragePooling1D, AveragePooling2D, AveragePooling3D, AvgPool1D, AvgPool2D, AvgPool3D,
                      GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalAveragePooling3D, GlobalAvgPool1D,
                      GlobalAvgPool2D, GlobalAvgPool3D, GlobalMaxPool1D, GlobalMaxPool2D, GlobalMaxPool3D,
                      GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalMaxPooling3D, MaxPool1D, MaxPool2D, MaxPool3D,
                      MaxPooling1D, MaxPooling2D, MaxPooling3D)
from .reshaping import (Cropping1D, Cropping2D, Cropping3D, UpSampling1D, UpSampling2D, UpSampling3D,
                        ZeroPadding1D, ZeroPadding2D, ZeroPadding3D)

# Keras 3 layers that clearconv does not have: asking for one names it, instead of an AttributeError
# that reads like a typo. Recurrent, attention, embedding and text layers are outside a CNN library's scope.
_NOT_IN_CLEARCONV = {
    "recurrent": ("RNN", "LSTM", "GRU", "SimpleRNN", "LSTMCell", "GRUCell", "SimpleRNNCell", "StackedRNNCells",
                  "Bidirectional", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D", "TimeDistributed"),
    "attention": ("Attention", "AdditiveAttention", "MultiHeadAttention", "GroupQueryAttention"),
    "embedding and text": ("Embedding", "ReversibleEmbedding", "TextVectorization", "StringLookup",
                           "IntegerLookup", "Hashing", "HashedCrossing", "CategoryEncoding", "Discretization"),
}


def __getattr__(name: str):
    for family, names in _NOT_IN_CLEARCONV.items():
        if name in names:
            raise AttributeError(f"clearconv has no layer {name}: {family} layers are outside clearconv's scope "
                                 f"(convolutional networks)")
    if name[:1].isupper():
        raise AttributeError(f"clearconv has no layer {name}; its layers are listed in docs/keras.md")
    raise AttributeError(f"module 'clearconv.layers' has no attribute {name!r}")
